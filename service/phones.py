"""Phone numbers and Twilio addresses."""

import phonenumbers

WHATSAPP_PREFIX = "whatsapp:"


class InvalidPhoneNumber(ValueError):
    pass


def normalise_phone(raw: str, region: str = "GB") -> str:
    """Any UK way of writing a number (07700 900123, +44 7700 900123, 447700900123) to E.164."""
    text = (raw or "").strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        text = text[len(WHATSAPP_PREFIX) :]
    if text.startswith("44") and not text.startswith("+"):
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(str(error)) from error
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def textable_number(raw: str, region: str = "GB") -> str:
    """A number that can receive texts, in E.164; InvalidPhoneNumber saying why not.

    Stricter than normalise_phone, for numbers another system sends us: a UK number
    must be a 07 mobile (Ofcom's drama range 07700 900xxx included), and a number
    from abroad must be a valid mobile there.
    """
    e164 = normalise_phone(raw, region)
    parsed = phonenumbers.parse(e164)
    if parsed.country_code == 44:
        if not (str(parsed.national_number).startswith("7") and len(str(parsed.national_number)) == 10):
            raise InvalidPhoneNumber("not a UK mobile number (07...): texts cannot reach it")
        return e164
    mobile = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in mobile:
        raise InvalidPhoneNumber("not a mobile number: texts cannot reach it")
    return e164


def split_address(address: str) -> tuple[str, str]:
    """A Twilio From/To value to (channel, E.164 number)."""
    channel = "whatsapp" if (address or "").lower().startswith(WHATSAPP_PREFIX) else "sms"
    return channel, normalise_phone(address)


def twilio_address(channel: str, e164: str) -> str:
    return f"{WHATSAPP_PREFIX}{e164}" if channel == "whatsapp" else e164
