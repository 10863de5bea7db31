"""Our incident categories as Open311 services, and the one attribute each one has."""

from __future__ import annotations

from app.categories import LABELS, Category
from app.integrations.open311.schemas import Service, ServiceAttribute, ServiceDefinition
from app.problems import Problem

OCCURRED_AT = "occurred_at"
# The specification's own changeset of GeoReport v2, and ours of this endpoint.
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00+00:00"

_CRIME, _COMMUNITY = "crime", "community safety"
# (description, keywords, group) per category: what an Open311 client lists for people.
_ABOUT: dict[Category, tuple[str, str, str]] = {
    Category.burglary: (
        "A home, shed, garage or business broken into, or an attempt at it.",
        "break-in,burglar,shed,garage",
        _CRIME,
    ),
    Category.vehicle_crime: (
        "A vehicle stolen or broken into, or something taken from it.",
        "car,van,bike,catalytic converter,vehicle",
        _CRIME,
    ),
    Category.theft: (
        "Something stolen, other than from a home or vehicle.",
        "theft,stolen",
        _CRIME,
    ),
    Category.criminal_damage_arson: (
        "Property damaged on purpose, graffiti, or a fire set deliberately.",
        "vandalism,graffiti,damage,arson,fire",
        _CRIME,
    ),
    Category.anti_social_behaviour: (
        "Behaviour that causes harassment, alarm or distress in the neighbourhood.",
        "noise,nuisance,harassment,asb",
        _COMMUNITY,
    ),
    Category.violence: ("Assault, threats or other violence.", "assault,fight,threat", _CRIME),
    Category.drugs: ("Drug dealing or use in public.", "drugs,dealing", _CRIME),
    Category.public_order: (
        "Disorder in public: fights, intimidating crowds, rowdiness.",
        "disorder,crowd,rowdy",
        _COMMUNITY,
    ),
    Category.suspicious_activity: (
        "Someone or something that looks wrong: people trying doors, vehicles circling.",
        "suspicious,loitering,watching",
        _COMMUNITY,
    ),
    Category.fraud_scam: (
        "Doorstep scams, rogue traders, fraud attempts.",
        "scam,fraud,rogue trader,doorstep",
        _CRIME,
    ),
    Category.other: ("Anything else the neighbourhood should know about.", "other", _COMMUNITY),
}

# Every category takes when it happened: our reports need it, and Open311 has no field
# for it. Absent, the report is taken to be happening now.
ATTRIBUTES = [
    ServiceAttribute(
        variable=True,
        code=OCCURRED_AT,
        datatype="datetime",
        required=False,
        datatype_description="A W3C date-time with an offset, e.g. 2026-11-23T21:40:00+00:00; "
        "at most 30 days ago",
        order=1,
        description="When it happened (if left out: now)",
    )
]


def services() -> list[Service]:
    return [
        Service(
            service_code=category.value,
            service_name=LABELS[category],
            description=_ABOUT[category][0],
            metadata=bool(ATTRIBUTES),
            type="realtime",
            keywords=_ABOUT[category][1],
            group=_ABOUT[category][2],
        )
        for category in Category
    ]


def category_of(code: str, status: int = 404) -> Category:
    try:
        return Category(code)
    except ValueError:
        raise Problem(status, f"service_code: no such service: {code[:64]}") from None


def definition(code: str) -> ServiceDefinition:
    return ServiceDefinition(service_code=category_of(code).value, attributes=ATTRIBUTES)
