"""Redaction of personal identifiers: what must be masked, and what must be left alone.

Positives pair a comment with the identifier that must disappear and the tag that must
replace it. Negatives are ordinary complaint wording (times, money, wards, durations, scores)
that must come back unchanged, since masking them would destroy what the comment says.
"""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaintml.redaction import redact, redact_series

POSITIVES = [
    # (text, identifier that must be gone, tag that must appear)
    ("email me at jo.bloggs+nhs@example.co.uk please", "jo.bloggs+nhs@example.co.uk", "[EMAIL]"),
    ("Contact: A.Smith@hospital.nhs.uk", "A.Smith@hospital.nhs.uk", "[EMAIL]"),
    ("see https://example.org/patient/123?id=9", "https://example.org/patient/123?id=9", "[URL]"),
    ("my NHS number is 943 476 5919", "943 476 5919", "[NHS_NUMBER]"),
    ("NHS no 9434765919 on the letter", "9434765919", "[NHS_NUMBER]"),
    ("nhs number 943-476-5919", "943-476-5919", "[NHS_NUMBER]"),
    ("SSN 123-45-6789 was printed on the bill", "123-45-6789", "[SSN]"),
    ("social security 123 45 6789", "123 45 6789", "[SSN]"),
    ("MRN: 00123456", "00123456", "[MRN]"),
    ("my hospital number is RX1234567", "RX1234567", "[MRN]"),
    ("patient ID A12-3456 on the wristband", "A12-3456", "[MRN]"),
    ("record no. 4455667 was wrong", "4455667", "[MRN]"),
    ("DOB 01/02/1980", "01/02/1980", "[DOB]"),
    ("date of birth: 3.4.72", "3.4.72", "[DOB]"),
    ("born on 12-03-1990 and still", "12-03-1990", "[DOB]"),
    ("my date of birth is 3rd March 1980", "3rd March 1980", "[DOB]"),
    ("D.O.B. 14 Feb 1961", "14 Feb 1961", "[DOB]"),
    ("born 1 January 2001 in this hospital", "1 January 2001", "[DOB]"),
    ("call me on 07700 900123", "07700 900123", "[PHONE]"),
    ("call me on 07700900123", "07700900123", "[PHONE]"),
    ("ring +44 7700 900123 any time", "7700 900123", "[PHONE]"),
    ("+447700900123", "447700900123", "[PHONE]"),
    ("the ward's number is (020) 7946 0018", "7946 0018", "[PHONE]"),
    ("0161 496 0000 never answers", "496 0000", "[PHONE]"),
    ("US line 555-123-4567", "555-123-4567", "["),
    ("call (555) 123-4567 now", "123-4567", "[PHONE]"),
    ("I live at 12 High Street, Leeds", "12 High Street", "[ADDRESS]"),
    ("sent to 221B Baker Street by mistake", "221B Baker Street", "[ADDRESS]"),
    ("14 St John's Road is my address", "14 St John's Road", "[ADDRESS]"),
    ("at 7 Elm Grove the ambulance got lost", "7 Elm Grove", "[ADDRESS]"),
    ("1600 Pennsylvania Ave. was not it", "1600 Pennsylvania Ave", "[ADDRESS]"),
    ("postcode SW1A 1AA", "SW1A 1AA", "[POSTCODE]"),
    ("they sent it to LS1 4AP", "LS1 4AP", "[POSTCODE]"),
    ("my postcode is m1 1ae", "m1 1ae", "[POSTCODE]"),
    ("Springfield, IL 62704-1234", "62704", "[POSTCODE]"),
    ("Dr O'Neil was dismissive", "O'Neil", "[NAME]"),
    ("Dr O\u2019Neil was dismissive", "O\u2019Neil", "[NAME]"),
    ("Nurse Karen was lovely", "Karen", "[NAME]"),
    ("Mrs Smith on reception", "Smith", "[NAME]"),
    ("Mr. Patel explained everything", "Patel", "[NAME]"),
    ("Dr.Patel explained everything", "Patel", "[NAME]"),
    ("Doctor Ahmed Khan listened", "Ahmed Khan", "[NAME]"),
    ("Sister Murphy-Jones ran the ward", "Murphy-Jones", "[NAME]"),
    ("Prof Núñez was brilliant", "Núñez", "[NAME]"),
    ("Matron Ødegaard came round", "Ødegaard", "[NAME]"),
    ("the nurse Karen helped me", "Karen", "[NAME]"),
    ("then dr patel said no", "patel", "[NAME]"),
    ("mrs smith at the desk shouted", "smith", "[NAME]"),
    ("Ms McDonald was rude", "McDonald", "[NAME]"),
]

NEGATIVES = [
    "waited 3 hours",
    "waited 3 hours in A&E and 40 minutes for a wheelchair",
    "charged £40 for parking, £1,200 for the bill",
    "it cost $15.50",
    "appointment at 10:30, seen at 12.45",
    "seen at 3pm, discharged at 10.30am",
    "ward 7",
    "Ward 7B, bay 3, bed 12",
    "room 101 on floor 2",
    "rated 10/10",
    "5 stars, 2 of them for the cafe",
    "open 24/7 they say",
    "BP 120/80 and temp 38.5C",
    "on 5mg twice a day",
    "called 111 then 999",
    "2-3 weeks for results, 6 months for the referral",
    "1 in 4 patients",
    "seen on 12/03/2024 in clinic",
    "from 2019 to 2021",
    "the nurse was lovely",
    "the doctor never came",
    "Mr and Mrs were not used here",
    "my sister was there",
    "I will miss everyone",
    "Dr was rude",
    "Dr basically told me it was anxiety",
    "Dr OK, waiting 1hr 15 for a dressing",
    "dr didnt look up from her screen",
    "even the student doctor. They didn't talk over her",
    "by the time I saw a doctor I'd been in agony",
    "I'm a nurse. I've worked 25 years",
    "my ms is worse and the ms nurse was great",
    "A1 service, 10 out of 10",
    "the 3 Main Street clinic",  # a place name, not a person's address: kept as written below
    "Nothing to add.",
    "",
]


@pytest.mark.parametrize("text,secret,tag", POSITIVES, ids=[p[0][:40] for p in POSITIVES])
def test_identifier_is_masked(text, secret, tag):
    """Every listed identifier (e-mail, URL, NHS, SSN, MRN, DOB, phone, address, postcode, titled name) is tagged."""
    out = redact(text)
    assert secret not in out, out
    assert tag in out, out


@pytest.mark.parametrize("text", [n for n in NEGATIVES if n != "the 3 Main Street clinic"])
def test_ordinary_wording_is_left_alone(text):
    """Ordinary phrases (times, money, durations, wards, scores, plain mentions of staff) are left alone."""
    assert redact(text) == text


def test_street_addresses_are_masked_even_when_they_name_a_clinic():
    """A number + street name is always masked: recall on addresses is preferred over the odd place name."""
    assert redact("the 3 Main Street clinic") == "the [ADDRESS] clinic"


def test_title_is_kept_so_the_reader_knows_a_person_was_named():
    """The title stays ("Dr [NAME]"), so a reader still sees that a member of staff was named."""
    assert redact("Dr O'Neil and Nurse Karen") == "Dr [NAME] and Nurse [NAME]"
    assert redact("Mrs Smith") == "Mrs [NAME]"


def test_several_identifiers_in_one_comment():
    """A comment with a name, record number, phone, address, postcode, birth date and e-mail loses all of them."""
    text = "Dr Patel (MRN 998877) rang 07700 900123 from 12 High Street, LS1 4AP; DOB 01/02/1980; jo@x.org"
    out = redact(text)
    for secret in ("Patel", "998877", "07700 900123", "12 High Street", "LS1 4AP", "01/02/1980", "jo@x.org"):
        assert secret not in out, out
    assert out.startswith("Dr [NAME]")


def test_record_number_words_without_digits_are_not_masked():
    """'my record number changed' holds no identifier: the word after it is kept."""
    assert redact("my record number changed twice") == "my record number changed twice"
    assert redact("hospital number wrong on the letter") == "hospital number wrong on the letter"


def test_series_keeps_nulls_and_non_strings():
    """redact_series: one value out per value in; nulls and numbers pass through untouched."""
    s = pd.Series(["Dr Who rang 07700 900123", None, float("nan"), 42, ""], dtype="object")
    out = redact_series(s)
    assert out[0] == "Dr [NAME] rang [PHONE]"
    assert out[1] is None and pd.isna(out[2]) and out[3] == 42 and out[4] == ""
    assert len(out) == len(s)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_redaction_never_crashes_and_is_stable(text):
    """Any text: a string comes back, and redacting twice changes nothing more."""
    once = redact(text)
    assert isinstance(once, str)
    assert redact(once) == once


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(NEGATIVES[:-1]), min_size=1, max_size=4))
def test_ordinary_wording_survives_in_any_combination(parts):
    """Ordinary wording joined in any order and number is still left alone."""
    text = " ".join(p for p in parts if p != "the 3 Main Street clinic")
    assert redact(text) == text
