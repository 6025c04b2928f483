from django.contrib.auth.hashers import Argon2PasswordHasher


class PortailArgon2idHasher(Argon2PasswordHasher):
    """Argon2id with the OWASP parameters (m=19 MiB, t=2, p=1).

    Django's defaults (m=100 MiB, p=8) cost ~127 ms per check on our 2-core machines;
    these cost ~25 ms, which keeps an opening-morning login wave affordable (QUALITY P4).
    The parameters are stored in each hash, so existing hashes are upgraded on login.
    """

    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19 * 1024
    parallelism = 1
