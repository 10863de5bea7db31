"""The prevention library: concrete things residents can do, per category.

Written by us, from police and Neighbourhood Watch crime-prevention advice, for every
category; each has a stable id, so that an alert can name actions from the library and
statistics can count who took which. Admins and agency officers will add their own
beside these (a table); the built-in ones live in code, reviewed like code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.categories import Category

# Fixed for ever: the built-in actions' ids are derived from it.
NAMESPACE = uuid.UUID("6f1c3a52-6d0e-4b8e-9a57-2f4b0c9d8e11")


@dataclass(frozen=True)
class BuiltInAction:
    key: str  # stable: `<category>.<slug>`
    category: Category
    text: str
    url: str | None = None
    id: uuid.UUID = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", uuid.uuid5(NAMESPACE, self.key))


_POLICE_UK = "https://www.police.uk/pu/advice-crime-prevention/"
_ACTIONFRAUD = "https://www.actionfraud.police.uk/"

_LIBRARY: dict[Category, list[tuple[str, str, str | None]]] = {
    Category.burglary: [
        ("lock-up", "Lock doors and windows, even when you are at home or in the garden", None),
        ("lights", "Leave a light on a timer when you are out after dark", None),
        ("shed", "Lock sheds and garages, and mark your tools with your postcode", None),
        ("keys", "Keep keys, including car keys, out of sight and away from the door", None),
        ("advice", "Read the police's home security advice", _POLICE_UK),
    ],
    Category.vehicle_crime: [
        ("empty-car", "Leave nothing on view in your car, not even a coat or a cable", None),
        ("lock-check", "Check your car is locked: try the handle", None),
        ("keyless", "Keep keyless fobs in a signal-blocking pouch", None),
        ("catalytic", "Park near lights or against a wall to guard the catalytic converter", None),
    ],
    Category.theft: [
        ("bike-lock", "Lock bikes to something fixed with a D-lock, frame and wheel", None),
        ("mark", "Mark and register valuables and bikes so they can be traced", None),
        ("bags", "Keep bags closed and in front of you in crowds", None),
    ],
    Category.criminal_damage_arson: [
        ("bins", "Keep wheelie bins out of reach until collection day", None),
        ("report-damage", "Report damage and graffiti quickly: repaired areas see less", None),
        ("alarms", "Test smoke alarms and keep exits clear", None),
    ],
    Category.anti_social_behaviour: [
        ("record", "Keep a dated record of what happens and when", None),
        ("report-101", "Report it to the police on 101 or to the council", None),
        ("no-confront", "Do not confront anyone; keep yourself safe", None),
    ],
    Category.violence: [
        ("call-999", "If someone is in danger now, call 999", None),
        ("stay-together", "Walk with others and stay on lit, busy routes", None),
        ("check-in", "Check on neighbours who live alone", None),
    ],
    Category.drugs: [
        ("note-details", "Note vehicles, times and descriptions, without approaching anyone", None),
        ("crimestoppers", "Tell Crimestoppers anonymously on 0800 555 111", None),
    ],
    Category.public_order: [
        ("keep-away", "Keep away from the trouble and keep children indoors", None),
        ("report-101", "Report it to the police on 101, or 999 if anyone is at risk", None),
    ],
    Category.suspicious_activity: [
        ("describe", "Note what you saw: people, vehicles, number plates and times", None),
        ("report", "Report it to the police on 101, or 999 if a crime is happening", None),
        ("no-confront", "Do not confront anyone; keep yourself safe", None),
    ],
    Category.fraud_scam: [
        ("check-id", "Ask callers for ID and ring their company on a number you look up", None),
        ("no-pressure", "Never let anyone rush you into paying or giving details", None),
        ("report-fraud", "Report fraud to Action Fraud", _ACTIONFRAUD),
        ("tell-neighbours", "Tell older neighbours about the scam", None),
    ],
    Category.other: [
        ("stay-alert", "Stay alert and look out for your neighbours", None),
        ("report-101", "Report what you see to the police on 101, or 999 in an emergency", None),
    ],
}

BUILT_IN: tuple[BuiltInAction, ...] = tuple(
    BuiltInAction(f"{category.value}.{slug}", category, text, url)
    for category, actions in _LIBRARY.items()
    for slug, text, url in actions
)
BY_KEY: dict[str, BuiltInAction] = {a.key: a for a in BUILT_IN}
