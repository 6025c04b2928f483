"""Fixed values of the demo town and of the benchmark dataset, shared by the commands, the README and the tests.

Everything here is fictional: the phone numbers are in the ranges ARCEP reserves for fiction
(01 99 00…, 06 39 98…), the postcode 99999 belongs to no town.
"""

TOWN_NAME = "Ville-Fleurie"
TOWN_EMAIL = "enfance@ville-fleurie.fr"
SCHOOL_YEAR_LABEL = "2026-2027"

DEMO_DOMAIN = "demo.portail-famille.fr"
FAMILY_PASSWORD = "Demo-Famille-2026"
STAFF_PASSWORD = "Demo-Agent-2026!"

MARTIN_EMAIL = f"famille.martin@{DEMO_DOMAIN}"
BERNARD_EMAIL = f"famille.bernard@{DEMO_DOMAIN}"

# Access codes of the first child of the Martin household (Léa), printed in the README.
DEMO_CHILD_CODE = "MARTIN01"
DEMO_PAYER_CODE = "731904"

# Staff logins, one per role of portail/accounts/roles.py: (e-mail, role).
STAFF_ACCOUNTS = [
    (f"agent.accueil@{DEMO_DOMAIN}", "Agent d'accueil"),
    (f"gestionnaire@{DEMO_DOMAIN}", "Gestionnaire"),
    (f"regisseur@{DEMO_DOMAIN}", "Régisseur"),
    (f"admin@{DEMO_DOMAIN}", "Administrateur"),
]

# Demo households use their own prefix, so they never collide with the "F" references of real sign-ups.
DEMO_REFERENCE_PREFIX = "D"

# --- Benchmark dataset (seed_bench) ------------------------------------------------------
BENCH_REFERENCE_PREFIX = "B"
BENCH_DOMAIN = "bench.portail-famille.fr"
BENCH_SLUG_PREFIX = "bench-"
# Every bench guardian shares this password (hashed once per run); for load tests only.
BENCH_PASSWORD = "Bench-Famille-2026"
