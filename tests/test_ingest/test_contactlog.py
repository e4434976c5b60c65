"""Contact logs from CSV files: good rows kept, bad rows reported by line and column."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from ingest.contactlog import (MAX_DURATION, SETTING_NAMES, SETTINGS, SOURCES, LoggedContact, UnreadableContactLog,
                               parse_contact_log)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)  # 19:00 in Viet Nam
A, B, C = "001090000001", "001090000002", "079195000003"
HEADER = "citizen_a,citizen_b,start,end,duration_minutes,setting,source\n"


def parse(text: str | bytes, retention: timedelta | None = timedelta(days=30), **options):
    data = text.encode() if isinstance(text, str) else text
    options.setdefault("known_places", {"CHO-BT", "NHA-THO"})
    return parse_contact_log(data, now=NOW, retention=retention, **options)


def errors(report) -> list[tuple[int, str]]:
    return [(error.line, error.field) for error in report.errors]


def shown(contact: LoggedContact) -> tuple:
    return (contact.citizen_a, contact.citizen_b, contact.started_at, contact.ended_at, contact.setting,
            contact.source, contact.place_id)


def test_good_and_bad_rows_in_any_column_order():
    report = parse(
        "source,setting,duration_minutes,end,start,citizen_b,citizen_a,place_code,note\n"
        f"interview,household,90,,2026-11-27 19:00,{B},{A},,ăn tối với anh Nam\n"          # 2: good, local time
        f"device,workplace,,2026-11-27T02:20:00Z,2026-11-27T09:00:00+07:00,{A},{C},CHO-BT,\n"  # 3: good, offsets
        "\n"                                                                                  # 4: blank, skipped
        f"phỏng vấn,Y Tế,,,2026-11-27 08:00,{A},{A},,\n"                                       # 5: same person, no end
        f"device,school,30,2026-11-27 09:00,2026-11-27 08:00,{A},{B},,\n"                     # 6: end and duration
        f"device,school,,2026-11-27 07:59,2026-11-27 08:00,{A},{B},,\n"                       # 7: end before start
        f"device,bar,15,,2026-11-27 08:00,{A},{B},NOWHERE,\n"                                 # 8: setting, place
        f"sensor,social,15,,2026-11-27 08:00,{A},{B},,x,extra\n"                              # 9: one value too many
        f"thiết bị,phương tiện,0.5,,27/11/2026 08:00,{C},{B},NHA-THO,\n"                      # 10: good, Vietnamese
    )

    assert [shown(c) for c in report.contacts] == [
        (A, B, datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc), datetime(2026, 11, 27, 13, 30, tzinfo=timezone.utc),
         "household", "interview", ""),
        (A, C, datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc), datetime(2026, 11, 27, 2, 20, tzinfo=timezone.utc),
         "workplace", "device", "CHO-BT"),
        (B, C, datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc), datetime(2026, 11, 27, 1, 0, 30, tzinfo=timezone.utc),
         "transport", "device", "NHA-THO"),
    ]
    assert [c.minutes for c in report.contacts] == [90.0, 20.0, 0.5]
    assert errors(report) == [(5, "citizen_b"), (5, "end"), (6, "duration_minutes"), (7, "end"),
                              (8, "setting"), (8, "place_code"), (9, "row")]
    assert report.bad_rows == 5 and not report.ok
    assert report.errors[0].message_en == "is the same person as citizen_a"
    assert report.errors[0].message_vi == "trùng với người ở cột citizen_a"


def test_the_note_is_read_past_and_kept_nowhere():
    report = parse("citizen_a,citizen_b,start,duration_minutes,setting,source,note\n"
                   f'{A},{B},2026-11-27 19:00,60,household,interview,"Nguyễn Văn Nam, 12 Lê Lợi, ho"\n')
    assert report.ok
    assert "Nam" not in repr(report.contacts)


def test_a_byte_order_mark_semicolons_and_decimal_commas_are_read():
    text = (f"\ufeffcitizen_a;citizen_b;start;duration_minutes;setting;source\r\n"
            f"{A};{B};27/11/2026 08:00;1,5;school;device\r\n")
    report = parse(text.encode())
    assert report.ok
    assert report.contacts[0].ended_at - report.contacts[0].started_at == timedelta(seconds=90)


def test_the_same_contact_written_another_way_counts_once_with_the_same_id():
    text = (HEADER
            + f"{A},{B},2026-11-27T08:00:00+07:00,,20,school,device\n"
            + f"{B},{A.replace('090', ' 090 ')},2026-11-27T01:00:00Z,2026-11-27 08:20,,School,device\n"
            + f"{A},{B},2026-11-27T08:00:00+07:00,,20,school,interview\n")  # another source: another contact
    first, second = parse(text), parse(text)

    assert [c.contact_id for c in first.contacts] == [c.contact_id for c in second.contacts]
    assert len(first.contacts) == 2 and first.duplicates == 1
    assert len({c.contact_id for c in first.contacts}) == 2
    assert all(len(c.contact_id) == 32 for c in first.contacts)


@pytest.mark.parametrize("cells, field, message", [
    (f"{A},{B},1999-12-31T23:00:00Z,,20,school,device", "start", "is before 2000-01-01"),
    (f"{A},{B},2026-11-28T12:10:00Z,,20,school,device", "start", "is in the future"),
    (f"{A},{B},2026-11-28T11:50:00Z,,20,school,device", "duration_minutes",
     "makes the contact end at 28/11/2026 19:10 (Vietnam time), which is in the future"),
    (f"{A},{B},2026-11-28T11:00:00Z,2026-11-28T12:06:00Z,,school,device", "end", "is in the future"),
    (f"{A},{B},2026-10-01 08:00,,20,school,device", "duration_minutes",
     "makes the contact end at 01/10/2026 08:20 (Vietnam time), which is older than the 30-day retention period"),
    (f"{A},{B},2026-10-01 08:00,2026-10-01 09:00,,school,device", "end", "is older than the 30-day retention"),
    (f"{A},{B},2026-11-27,,20,school,device", "start", "has no time of day"),
    (f"{A},{B},27/11/2026 25:00,,20,school,device", "start", "must be a time"),
    (f"{A},{B},,,20,school,device", "start", "is required"),
    (f"{A},{B},2026-11-27 08:00,,,school,device", "end", "give end, or duration_minutes"),
    (f"{A},{B},2026-11-27 08:00,2026-11-27 08:00,,school,device", "end", "must be after start"),
    (f"{A},{B},2026-11-26 08:00,2026-11-27 08:00:01,,school,device", "end", "makes a contact longer than 24 hours"),
    (f"{A},{B},2026-11-26 08:00,,1441,school,device", "duration_minutes", "must be a number of minutes above 0"),
    (f"{A},{B},2026-11-26 08:00,,0,school,device", "duration_minutes", "must be a number of minutes above 0"),
    (f"{A},{B},2026-11-26 08:00,,-5,school,device", "duration_minutes", "must be a number of minutes above 0"),
    (f"{A},{B},2026-11-26 08:00,,1e3,school,device", "duration_minutes", "must be a number of minutes above 0"),
    (f"{A},{B},2026-11-26 08:00,,nan,school,device", "duration_minutes", "must be a number of minutes above 0"),
    (f"{A},{B},2026-11-26 08:00,,20,,device", "setting", "is required"),
    (f"{A},{B},2026-11-26 08:00,,20,church,device", "setting", "must be one of household, workplace, school"),
    (f"{A},{B},2026-11-26 08:00,,20,school,app", "source", "must be one of interview, device, other"),
    (f"012345678,{B},2026-11-26 08:00,,20,school,device", "citizen_a", "is a 9-digit CMND number"),
    (f"{A},1090000002,2026-11-26 08:00,,20,school,device", "citizen_b", "has 10 digits, not 12"),
    (f"{A},００１０９００００００２,2026-11-26 08:00,,20,school,device", "citizen_b", "must be a 12-digit CCCD"),
    (f"{A},,2026-11-26 08:00,,20,school,device", "citizen_b", "is required"),
    (f"{A},000090000002,2026-11-26 08:00,,20,school,device", "citizen_b", "000 is neither a province code"),
    (f"{A},001290000002,2026-11-26 08:00,,20,school,device", "citizen_b", "the number encodes a birth year in the future"),
    (f"{A},{A.replace('001', '001 ')},2026-11-26 08:00,,20,school,device", "citizen_b", "is the same person"),
])
def test_each_rule_names_its_column(cells, field, message):
    report = parse(f"{HEADER}{cells}\n")
    assert errors(report) == [(2, field)]
    assert report.errors[0].message_en.startswith(message), report.errors[0].message_en
    assert report.errors[0].message_vi
    assert report.contacts == []


def test_the_edges_of_the_rules_are_accepted():
    report = parse(HEADER
                   + f"{A},{B},2026-11-27 08:00,2026-11-28 08:00,,school,device\n"  # exactly 24 hours
                   + f"{A},{B},2026-11-28T11:00:00Z,2026-11-28T12:05:00Z,,school,device\n"  # at the clock skew allowed
                   + f"{A},{B},2021-07-09T08:30:00.123456+07:00,,0.001,other,other\n", retention=None)
    assert report.ok, report.errors
    assert report.contacts[0].ended_at - report.contacts[0].started_at == MAX_DURATION
    assert report.contacts[2].started_at == datetime(2021, 7, 9, 1, 30, 0, 123000, tzinfo=timezone.utc)
    assert report.contacts[2].ended_at == datetime(2021, 7, 9, 1, 30, 0, 183000, tzinfo=timezone.utc)


def test_every_setting_and_source_and_their_vietnamese_names_are_taken():
    rows = [f"{A},{B},2026-11-27 08:00,,{minute + 1},{setting},{source}"
            for minute, (setting, source) in enumerate([(s, "device") for s in SETTINGS]
                                                       + [("other", s) for s in SOURCES]
                                                       + [(name.upper(), "khác") for name in SETTING_NAMES])]
    report = parse(HEADER + "\n".join(rows) + "\n")
    assert report.ok
    assert [c.setting for c in report.contacts] == [*SETTINGS, *["other"] * len(SOURCES), *SETTING_NAMES.values()]


def test_without_a_place_registry_any_well_formed_code_is_taken():
    report = parse("citizen_a,citizen_b,start,duration_minutes,setting,source,place_code\n"
                   f"{A},{B},2026-11-27 08:00,5,social,interview,ANY-PLACE\n"
                   f"{A},{B},2026-11-27 09:00,5,social,interview,NOT A CODE\n", known_places=None)
    assert errors(report) == [(3, "place_code")]
    assert [c.place_id for c in report.contacts] == ["ANY-PLACE"]


@pytest.mark.parametrize("data, problem", [
    (b"", "is empty"),
    ("citizen_a,citizen_b,start,end,setting,source\nx,y,Thành,z,a,b\n".encode("cp1258"), "is not UTF-8 text"),
    (b"citizen_a,citizen_b,start,setting,source\n", "missing end or duration_minutes"),
    (b"citizen_a,start,end,setting\n", "missing citizen_b, source"),
    (b"citizen_a,citizen_b,start,end,setting,source,notes\n", "unknown notes"),
    (b"citizen_a,citizen_b,start,end,setting,source,source\n", "repeated source"),
    (b"i,j,t\n1,2,20\n", "missing citizen_a, citizen_b, start, setting, source, end or duration_minutes; unknown i, j, t"),
])
def test_an_unreadable_file_gives_nothing_and_says_why(data, problem):
    with pytest.raises(UnreadableContactLog, match=re.escape(problem)) as caught:
        parse(data)
    assert caught.value.message.vi


def test_the_file_bound_on_a_contact_is_the_warehouses():
    from warehouse.imported import MAX_DURATION as STORED_MAX

    assert MAX_DURATION == STORED_MAX
