"""Fixed parameters of the simulated O2C world: currencies, regions, terms, names."""

from __future__ import annotations

# Nominal USD value of one unit of each currency on the first simulated day.
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CAD": 0.74,
    "AUD": 0.66,
    "JPY": 0.0067,
}
CURRENCIES: list[str] = list(USD_PER_UNIT)
# Minor-unit decimals; JPY has none.
CURRENCY_DECIMALS: dict[str, int] = {c: (0 if c == "JPY" else 2) for c in CURRENCIES}

REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
REGION_WEIGHTS = [0.45, 0.30, 0.15, 0.10]
REGION_COUNTRIES = {
    "NA": (["US", "CA"], [0.8, 0.2]),
    "EMEA": (["DE", "FR", "NL", "GB", "IE"], [0.3, 0.2, 0.15, 0.25, 0.1]),
    "APAC": (["AU", "JP"], [0.5, 0.5]),
    "LATAM": (["MX", "BR"], [0.5, 0.5]),
}
# Correspondence language by country (English elsewhere).
COUNTRY_LANGUAGE = {"DE": "de", "FR": "fr", "MX": "es"}
COUNTRY_CURRENCY = {
    "US": "USD",
    "CA": "CAD",
    "DE": "EUR",
    "FR": "EUR",
    "NL": "EUR",
    "IE": "EUR",
    "GB": "GBP",
    "AU": "AUD",
    "JP": "JPY",
    "MX": "USD",
    "BR": "USD",
}

SEGMENTS = ["enterprise", "mid_market", "smb"]
SEGMENT_WEIGHTS = [0.10, 0.30, 0.60]
# Expected orders per active business day, and the price discount each segment negotiates.
SEGMENT_ORDER_RATE = {"enterprise": 0.30, "mid_market": 0.14, "smb": 0.06}
SEGMENT_DISCOUNT = {"enterprise": 0.15, "mid_market": 0.08, "smb": 0.0}
SEGMENT_CREDIT_BASE = {"enterprise": 500_000, "mid_market": 100_000, "smb": 20_000}
# Share of each segment paying through the card/ACH processor rather than bank transfer.
SEGMENT_PROCESSOR_SHARE = {"enterprise": 0.1, "mid_market": 0.3, "smb": 0.6}

TERMS = ["NET30", "NET45", "NET60", "2/10NET30"]
TERMS_DAYS = {"NET30": 30, "NET45": 45, "NET60": 60, "2/10NET30": 30}
TERMS_WEIGHTS = {
    "enterprise": [0.3, 0.2, 0.4, 0.1],
    "mid_market": [0.45, 0.25, 0.15, 0.15],
    "smb": [0.6, 0.15, 0.05, 0.2],
}
EARLY_PAYMENT_DISCOUNT = 0.02
EARLY_PAYMENT_DAYS = 10

# Order volume by month (mild year-end peak) and by weekday (B2B: little at weekends).
MONTH_SEASONALITY = [0.92, 0.94, 1.02, 0.98, 1.0, 1.02, 0.94, 0.92, 1.02, 1.04, 1.08, 1.12]
WEEKDAY_FACTOR = [1.15, 1.15, 1.15, 1.15, 1.1, 0.2, 0.1]
ANNUAL_GROWTH = 0.12

PRODUCT_CATEGORIES = ["hardware", "components", "consumables", "services", "software"]
CARRIERS = ["DHL", "UPS", "FedEx", "Kuehne+Nagel", "DB Schenker"]
DISPUTE_REASONS = ["pricing", "quantity", "quality", "not_received", "duplicate"]

NAME_FIRST = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Dunder",
    "Gringotts",
    "Oscorp",
    "Aperture",
    "Monarch",
    "Nakatomi",
    "Pied",
    "Massive",
    "Blue",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Litware",
    "Adventure",
    "Wide",
    "Proseware",
    "Tailspin",
    "Woodgrove",
    "Alpine",
    "Coho",
    "Fourth",
    "Lucerne",
    "Margie",
    "Trey",
    "Baltic",
    "Nordic",
    "Pacific",
    "Atlas",
]
NAME_SECOND = [
    "Industries",
    "Logistics",
    "Systems",
    "Foods",
    "Energy",
    "Retail",
    "Labs",
    "Partners",
    "Manufacturing",
    "Holdings",
    "Trading",
    "Pharma",
    "Works",
    "Supply",
    "Dynamics",
    "Media",
]
NAME_SUFFIX = ["Inc", "LLC", "GmbH", "Ltd", "SA", "BV", "KK", "Pty Ltd", "SAS", "Corp"]
PERSON_FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Lukas",
    "Maya",
    "Nils",
    "Olga",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
]
PERSON_LAST = [
    "Almeida",
    "Berg",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Muller",
    "Novak",
    "Okafor",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Weber",
]
