// Sends the bank's payment form on its own (the button stays for browsers without JavaScript).
document.querySelectorAll("form[data-auto-submit]").forEach(function (form) { form.submit(); });
