class BusinessError(Exception):
    """A rule refused the operation. `message` is French and safe to show to the user."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code
