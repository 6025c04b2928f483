"""The payment error: a rule refused a money operation. `message` is French and safe to show."""

from portail.core.errors import BusinessError


class PaymentError(BusinessError):
    pass
