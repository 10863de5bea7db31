"""The category taxonomy shared by incident reports and alerts (aligned with police.uk)."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    burglary = "burglary"
    vehicle_crime = "vehicle_crime"
    theft = "theft"
    criminal_damage_arson = "criminal_damage_arson"
    anti_social_behaviour = "anti_social_behaviour"
    violence = "violence"
    drugs = "drugs"
    public_order = "public_order"
    suspicious_activity = "suspicious_activity"
    fraud_scam = "fraud_scam"
    other = "other"


LABELS: dict[Category, str] = {
    Category.burglary: "Burglary",
    Category.vehicle_crime: "Vehicle crime",
    Category.theft: "Theft",
    Category.criminal_damage_arson: "Criminal damage and arson",
    Category.anti_social_behaviour: "Anti-social behaviour",
    Category.violence: "Violence",
    Category.drugs: "Drugs",
    Category.public_order: "Public order",
    Category.suspicious_activity: "Suspicious activity",
    Category.fraud_scam: "Fraud or scam",
    Category.other: "Other",
}
