"""The citizen's web forms: their fields, bilingual labels, and the JSON payload they become.

Validation is the service's (``ingest.declarations.parse_declaration``): a form only gathers
what was typed, hands it over in the API's payload shape, and puts the service's field errors
back next to the fields they name.
"""
from __future__ import annotations

import secrets
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (BooleanField, FieldList, Form, FormField, HiddenField, RadioField,
                     SelectField, SelectMultipleField, StringField)
from wtforms.widgets import CheckboxInput, ListWidget

from ingest.cardqr import CardQr
from ingest.declarations import (MAX_DEPENDANTS, MAX_VACCINATION_DOSES, RELATIONS, SEXES, SYMPTOMS,
                                 TRAVEL_MEANS)
from ingest.errors import InvalidInput, Message
from ingest.fields import REQUIRED, normalize_phone
from ingest.identity import normalize_id
from ingest.units import provinces, wards
from webapp import declarations
from webapp.declarations import IdempotencyConflict, Issued
from webapp.i18n import current_language, t

BLANK_DEPENDANT_ROWS = 3  # rows shown at first (and all there is without JavaScript)

LABELS: dict[str, Message] = {
    "citizen_id": Message("Citizen ID number (CCCD, or 9-digit CMND)", "Số CCCD (hoặc số CMND 9 số)"),
    "full_name": Message("Full name", "Họ và tên"),
    "date_of_birth": Message("Date of birth", "Ngày sinh"),
    "sex": Message("Sex", "Giới tính"),
    "phone": Message("Phone number", "Số điện thoại"),
    "residence": Message("Current residence", "Nơi ở hiện tại"),
    "province_code": Message("Province/City", "Tỉnh/Thành phố"),
    "ward_code": Message("Ward/Commune", "Phường/Xã"),
    "address": Message("House number, street", "Số nhà, đường, thôn/xóm"),
    "trip": Message("Travel", "Di chuyển"),
    "from_province": Message("From (province/city)", "Đi từ (tỉnh/thành phố)"),
    "to_province": Message("To (province/city)", "Đến (tỉnh/thành phố)"),
    "means": Message("Means of transport", "Phương tiện"),
    "vehicle_number": Message("Vehicle plate or trip number", "Biển số xe hoặc số hiệu chuyến"),
    "date": Message("Travel date", "Ngày đi"),
    "symptoms": Message("Symptoms in the last 14 days", "Triệu chứng trong 14 ngày qua"),
    "contact_with_case": Message("Contact with a case", "Tiếp xúc với ca bệnh"),
    "visited_outbreak_area": Message("Outbreak areas", "Đến vùng có dịch"),
    "vaccination_doses": Message("COVID-19 vaccine doses received", "Số mũi vắc xin COVID-19 đã tiêm"),
    "dependants": Message("People you declare for", "Người được khai hộ"),
    "relation": Message("Relationship to you", "Quan hệ với người khai"),
    "idempotency_key": Message("Form", "Biểu mẫu"),
    "body": Message("Form", "Biểu mẫu"),
}
SEX_LABELS = {"male": Message("Male", "Nam"), "female": Message("Female", "Nữ")}
SYMPTOM_LABELS = {
    "fever": Message("Fever", "Sốt"),
    "cough": Message("Cough", "Ho"),
    "shortness_of_breath": Message("Shortness of breath", "Khó thở"),
    "sore_throat": Message("Sore throat", "Đau họng"),
    "loss_of_taste_smell": Message("Loss of taste or smell", "Mất vị giác hoặc khứu giác"),
    "fatigue": Message("Tiredness", "Mệt mỏi"),
    "muscle_pain": Message("Muscle aches", "Đau nhức cơ"),
    "diarrhea": Message("Diarrhoea", "Tiêu chảy"),
    "headache": Message("Headache", "Đau đầu"),
}
MEANS_LABELS = {
    "car": Message("Car", "Ô tô"), "motorbike": Message("Motorbike", "Xe máy"),
    "bus": Message("Coach or bus", "Xe khách, xe buýt"), "train": Message("Train", "Tàu hỏa"),
    "plane": Message("Plane", "Máy bay"), "ship": Message("Boat or ship", "Tàu thủy, thuyền"),
    "other": Message("Other", "Khác"),
}
RELATION_LABELS = {
    "child": Message("Child", "Con"), "parent": Message("Parent", "Bố/Mẹ"),
    "grandparent": Message("Grandparent", "Ông/Bà"), "spouse": Message("Spouse", "Vợ/Chồng"),
    "sibling": Message("Brother or sister", "Anh/Chị/Em"), "other": Message("Other", "Khác"),
}
CHOOSE_ONE = Message("choose one of the options", "hãy chọn một mục")
_PERSON_FIELDS = ("citizen_id", "full_name", "date_of_birth", "sex")


class ResidenceForm(Form):
    """Where the person lives now: province, then one of its wards."""

    province_code = SelectField(validate_choice=False)
    ward_code = SelectField(validate_choice=False)
    address = StringField()


class TripForm(Form):
    """A trip between provinces in the last 14 days (or the next 7)."""

    from_province = SelectField(validate_choice=False)
    to_province = SelectField(validate_choice=False)
    means = SelectField(validate_choice=False)
    vehicle_number = StringField()
    date = StringField()


class DependantForm(Form):
    """One person declared by the same declarer: a child, an elderly parent without a phone."""

    citizen_id = StringField()
    full_name = StringField()
    date_of_birth = StringField()
    sex = SelectField(validate_choice=False)
    relation = SelectField(validate_choice=False, default="child")


class NotAccepted(Exception):
    """A form the declaration service refused; its errors are on the form already."""

    def __init__(self, status: int, notice: Message | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.notice = notice


class DeclarationForm(FlaskForm):
    """The health declaration, field names matching the API payload (nested with ``-``)."""

    # Made when the form is first shown and carried through re-renders, so a double tap or a
    # resubmitted page is answered with the first declaration instead of a second one.
    idempotency_key = HiddenField()
    citizen_id = StringField()
    full_name = StringField()
    date_of_birth = StringField()
    sex = RadioField(validate_choice=False)
    phone = StringField()
    residence = FormField(ResidenceForm)
    trip = FormField(TripForm)
    symptoms = SelectMultipleField(validate_choice=False, widget=ListWidget(prefix_label=False),
                                   option_widget=CheckboxInput())
    contact_with_case = BooleanField()
    visited_outbreak_area = BooleanField()
    vaccination_doses = SelectField(validate_choice=False)
    dependants = FieldList(FormField(DependantForm), max_entries=MAX_DEPENDANTS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.summary: list[tuple[str | None, str, str]] = []  # (field id, label, message)
        if not self.idempotency_key.data:
            self.renew_idempotency_key()
        # Every row is rendered, spare ones hidden. Padded here rather than with min_entries,
        # which reads the submitted rows a second time when their numbering has gaps.
        while len(self.dependants) < MAX_DEPENDANTS:
            self.dependants.append_entry()
        self._localize()

    def renew_idempotency_key(self) -> None:
        self.idempotency_key.data = secrets.token_urlsafe(18)

    def _localize(self) -> None:
        """Choices in the reader's language; wards of whichever province is chosen."""
        province_choices = [(str(code), name) for code, name in provinces()]
        choose = ("", t("Choose…", "Chọn…"))
        self.sex.choices = [(code, t(SEX_LABELS[code])) for code in SEXES]
        self.residence.province_code.choices = [choose] + province_choices
        self.residence.ward_code.choices = [choose] + ward_choices(self.residence.province_code.data)
        self.trip.from_province.choices = [choose] + province_choices
        self.trip.to_province.choices = [choose] + province_choices
        self.trip.means.choices = [choose] + [(code, t(MEANS_LABELS[code])) for code in TRAVEL_MEANS]
        self.symptoms.choices = [(code, t(SYMPTOM_LABELS[code])) for code in SYMPTOMS]
        self.vaccination_doses.choices = [(str(n), str(n)) for n in range(MAX_VACCINATION_DOSES + 1)]
        for row in self.dependants:
            row.sex.choices = [choose] + self.sex.choices
            row.relation.choices = [(code, t(RELATION_LABELS[code])) for code in RELATIONS]

    def visible_dependant_rows(self) -> int:
        """How many dependant rows to show: the filled ones, and at least a few blank ones.

        Every row up to ``MAX_DEPENDANTS`` is rendered; the rest are hidden until the script's
        "add a person" button reveals them, so pages without JavaScript still get blank rows.
        """
        filled = [index for index, row in enumerate(self.dependants)
                  if row.errors or any(_text(row[name].data) for name in _PERSON_FIELDS)]
        return max(BLANK_DEPENDANT_ROWS, filled[-1] + 1 if filled else 0)

    def to_payload(self) -> tuple[dict[str, Any], list[int]]:
        """The API payload, and for each dependant in it the form row it came from."""
        payload: dict[str, Any] = {name: _text(self[name].data) for name in (*_PERSON_FIELDS, "phone")}
        payload["sex"] = self.sex.data or None
        for section in ("residence", "trip"):
            values = {name: _text(value) for name, value in self[section].data.items()}
            if any(values.values()):  # an untouched optional section is left out, not invalid
                payload[section] = values
        payload["symptoms"] = list(self.symptoms.data or [])
        payload["contact_with_case"] = bool(self.contact_with_case.data)
        payload["visited_outbreak_area"] = bool(self.visited_outbreak_area.data)
        payload["vaccination_doses"] = self.vaccination_doses.data or "0"
        people, rows = [], []
        for index, row in enumerate(self.dependants):
            person = {name: _text(row[name].data) for name in _PERSON_FIELDS}
            if any(person.values()):  # blank rows are spare rows, not dependants
                people.append({**person, "sex": person["sex"] or None, "relation": row.relation.data})
                rows.append(index)
        payload["dependants"] = people
        return payload, rows

    def submit(self, already_sent: Message) -> tuple[list[Issued], list[int]]:
        """Store the declaration the form holds: (people issued a QR, dependant rows used).

        On refusal the errors go next to their fields and :class:`NotAccepted` says the answer's
        status; ``already_sent`` is the notice for a key reused with other answers.
        """
        payload, rows = self.to_payload()
        try:
            issued, _ = declarations.submit(payload, self.idempotency_key.data or None)
        except InvalidInput as error:
            self.show_errors(error, rows)
            if "idempotency_key" in error.errors:  # a mangled hidden field: give the page a good one
                self.renew_idempotency_key()
            raise NotAccepted(422) from error
        except IdempotencyConflict as conflict:
            # Back, edit, send: the old key belongs to the first declaration; this is a new one.
            self.renew_idempotency_key()
            raise NotAccepted(409, already_sent) from conflict
        return issued, rows

    def show_errors(self, error: InvalidInput, rows: list[int]) -> None:
        """Put every field error next to its field, and list them all, in form order, for the summary."""
        language = current_language()
        order = {field_id: position for position, field_id in enumerate(_field_ids(self))}
        for key, message in error.errors.items():
            field, label = self._field_for(key, rows)
            if isinstance(field, (SelectField, RadioField)) and not field.data:
                message = CHOOSE_ONE  # "not one of: car, bus, …" means nothing to someone who chose nothing
            text = message.in_language(language)
            if field is not None:
                field.errors = [text]
            self.summary.append((field.id if field is not None else None, label, text))
        self.summary.sort(key=lambda problem: order.get(problem[0], -1))

    def _field_for(self, key: str, rows: list[int]) -> tuple[Any, str]:
        parts = key.split(".")
        label = t(LABELS.get(parts[-1], Message(parts[-1], parts[-1])))
        try:
            if parts[0] == "dependants" and len(parts) == 3:
                index = rows[int(parts[1])]
                return self.dependants[index][parts[2]], t(
                    f"Person {index + 1}", f"Người thứ {index + 1}") + " – " + label
            if parts[0] in ("residence", "trip") and len(parts) == 2:
                return self[parts[0]][parts[1]], t(LABELS[parts[0]]) + " – " + label
            if len(parts) == 1 and parts[0] in self and parts[0] not in ("dependants", "idempotency_key"):
                return self[parts[0]], label
        except (IndexError, KeyError, ValueError):
            pass
        return None, label

    def prefill(self, card: CardQr) -> None:
        """Fill in who the person is from their CCCD card."""
        self.citizen_id.data = card.cccd
        self.full_name.data = card.full_name
        self.date_of_birth.data = card.date_of_birth.isoformat()
        self.sex.data = card.sex
        if not self.residence.address.data:
            self.residence.address.data = card.address


class CardPhotoForm(FlaskForm):
    """A photo of the QR code on the back of a CCCD card."""

    photo = FileField()


class LookupForm(FlaskForm):
    """The two things that find one's own declarations: ID number and phone."""

    id_number = StringField()
    phone = StringField()

    def require_both(self) -> bool:
        """Whether both were given; marks the missing ones."""
        for field in (self.id_number, self.phone):
            if not _text(field.data):
                field.errors = [t(REQUIRED)]
        return not (self.id_number.errors or self.phone.errors)

    def criteria(self) -> tuple[str, str]:
        """The ID number and phone as the declaration stored them."""
        return normalize_id(_text(self.id_number.data)), normalize_phone(_text(self.phone.data))


def ward_choices(province: Any) -> list[tuple[str, str]]:
    """The wards of the chosen province, for the dropdown; none until a province is chosen."""
    try:
        return [(str(code), name) for code, name in wards(int(province))]
    except (TypeError, ValueError):
        return []


def _field_ids(form: Any) -> list[str]:
    """The ids of a form's fields as they appear on the page, nested forms included."""
    ids = []
    for field in form:
        if isinstance(field, FormField):
            ids.extend(_field_ids(field.form))
        elif isinstance(field, FieldList):
            for entry in field:
                ids.extend(_field_ids(entry.form))
        else:
            ids.append(field.id)
    return ids


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))
