"""The billing error: a rule refused an invoicing or credit-note operation. `message` is French and safe to show."""

from portail.core.errors import BusinessError


class BillingError(BusinessError):
    pass
