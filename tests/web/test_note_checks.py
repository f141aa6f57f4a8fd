"""The plain-text checks check-in notes and report notes share (web/services/grid_work.py)."""

from __future__ import annotations

from web.services import reports as field_reports
from web.services.grid_work import NOTE_MAX_CHARS, CheckIn, checkin_problems, plain_note_problems

NOW = 1_767_225_600


def test_a_note_too_long_and_with_control_characters_gets_both_messages_in_order() -> None:
    assert plain_note_problems("gate open", 500) == []
    assert plain_note_problems("x" * 500, 500) == []
    assert plain_note_problems("x" * 12 + "\x07", 12) == [
        "The note is longer than 12 characters.",
        "The note holds control characters; type it as plain text.",
    ]


def test_checkins_and_reports_check_notes_alike_after_their_own_checks() -> None:
    long_note = "x" * (NOTE_MAX_CHARS + 1)
    assert checkin_problems(CheckIn(0, NOW, 15, long_note), NOW) == [
        f"The note is longer than {NOTE_MAX_CHARS} characters."
    ]
    # A check-in's time and minutes come first, then the note.
    assert checkin_problems(CheckIn(0, NOW + 3600, 0, "bell\x07"), NOW) == [
        "The visit time is in the future (more than 10 minutes ahead).",
        "Minutes must be more than 0 and at most 480.",
        "The note holds control characters; type it as plain text.",
    ]
    # A report's note is checked as plain text first, then for personal numbers.
    assert field_reports.note_problems("bell\x07 13800138000") == [
        "The note holds control characters; type it as plain text.",
        "The note holds a phone number. Reports describe places, never people: "
        "remove it; nothing was stored.",
    ]
