"""US state and territory codes and names: the one table lead normalization and config share."""

from __future__ import annotations

STATE_NAMES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "PR": "Puerto Rico", "GU": "Guam", "VI": "U.S. Virgin Islands", "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}  # fmt: skip

STATE_CODES: frozenset[str] = frozenset(STATE_NAMES)

_BY_NAME: dict[str, str] = {name.lower(): code for code, name in STATE_NAMES.items()}
_BY_NAME.update(
    {"virgin islands": "VI", "us virgin islands": "VI", "washington dc": "DC", "d c": "DC"}
)


def state_code(value: str) -> str | None:
    """'fl', 'FL', 'Florida', ' florida ' → 'FL'; anything else → None."""
    cleaned = " ".join(value.replace(".", " ").split()).lower()
    if cleaned.upper() in STATE_CODES:
        return cleaned.upper()
    return _BY_NAME.get(cleaned) or _BY_NAME.get(value.strip().lower())
