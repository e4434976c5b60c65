"""Stream processing: the Faust app, its agents and the event records they share."""
