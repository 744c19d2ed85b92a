"""Every sentence the assistant sends a tenant, in English, by key.

These are the source strings for the Babel catalogs in locales/ (extracted with
`pybabel extract -F locales/babel.cfg -k N_ -k NP_:1,2`). Keep them plain,
kind and blame-free, short enough for SMS, and never ask for a bare carrier
keyword such as CANCEL or STOP as a reply.
"""


def N_(text: str) -> str:
    """Marks a string for extraction; translation happens when it is rendered."""
    return text


def NP_(singular: str, plural: str) -> tuple[str, str]:
    return singular, plural


TEXTS = {
    # Pieces used inside other sentences.
    "slot_window": N_("%(day)s, %(time)s"),
    "visit_type.gas_safety_check": N_("gas safety check"),
    "visit_type.electrical_check": N_("electrical safety check"),
    "visit_type.repair": N_("repair visit"),
    "visit_type.damp_survey": N_("damp and mould survey"),
    "visit_type.tenancy_audit": N_("home visit"),
    "visit_type.alarm_check": N_("smoke and CO alarm check"),
    "visit_purpose.gas_safety_check": N_(
        "A gas safety check makes sure your boiler, cooker and other gas appliances are safe. "
        "We have to do it every year to keep you and your neighbours safe."
    ),
    "visit_purpose.electrical_check": N_(
        "An electrical safety check tests the wiring, sockets and fuse box in your home to make sure they are safe."
    ),
    "visit_purpose.repair": N_("This visit is to do the repair that was reported for your home."),
    "visit_purpose.damp_survey": N_(
        "A damp and mould survey finds out what is causing damp or mould in your home, so we can put it right."
    ),
    "visit_purpose.tenancy_audit": N_(
        "A home visit is a short, friendly check-in to see how you are getting on and if your home needs anything."
    ),
    "visit_purpose.alarm_check": N_("We check that your smoke and carbon monoxide alarms work properly."),
    "operative_unknown": N_("one of our team"),
    "option_line": N_("%(num)s. %(text)s"),
    "menu_confirm": N_("Confirm my visit"),
    "menu_change": N_("Change my visit"),
    "menu_person": N_("Speak to someone"),
    # Reminders.
    "reminder": N_(
        "Hello %(name)s, your %(visit)s is on %(slot)s. Reply YES to confirm, or reply CHANGE if you need another time."
    ),
    # Answers about a visit.
    "confirmed": N_("Thank you, your %(visit)s on %(slot)s is confirmed. We will remind you the evening before."),
    "already_confirmed": N_("Thank you, your %(visit)s on %(slot)s is already confirmed."),
    "ask_cancel": N_("Do you want us to cancel your %(visit)s on %(slot)s? Reply YES to cancel it, or NO to keep it."),
    "cancelled": N_(
        "Your %(visit)s on %(slot)s is cancelled. Someone from our team will be in touch to find a better time."
    ),
    "kept": N_("No problem, your %(visit)s stays on %(slot)s."),
    "ask_new_time": N_("No problem. What day and time would suit you better? For example: Thursday afternoon."),
    "offer_slots": N_("I can offer these times for your %(visit)s:"),
    "offer_slots_pick": N_("Reply with the number you would like, or tell me another day."),
    "no_slots": N_(
        "Sorry, I could not find a free time near then. Could you suggest another day? Or reply 3 to speak to someone."
    ),
    "ask_move": N_("Just to check: move your %(visit)s to %(slot)s? Reply YES to confirm."),
    "requested_time_echo": N_("You asked for %(when)s."),
    "moved": N_("Done. Your %(visit)s is now on %(slot)s. We will send you a reminder before."),
    "slot_gone": N_("Sorry, that time has just been taken. Here are the nearest free times:"),
    "when_answer": N_("Your %(visit)s is on %(slot)s."),
    "who_answer": N_("%(operative)s will come for your %(visit)s on %(slot)s. They will show their ID card."),
    "duration_answer": N_("Your %(visit)s usually takes about %(length)s."),
    "no_visits": N_("You have no visits booked with us at the moment. Reply 3 if you would like to speak to someone."),
    "pick_visit": N_("You have more than one visit booked. Which one do you mean? Reply with the number."),
    "visit_line": N_("%(visit)s, %(slot)s"),
    # Small talk and help.
    "greeting": N_("Hello %(name)s. Your %(visit)s is on %(slot)s. Reply YES to confirm, or CHANGE for another time."),
    "greeting_no_visit": N_("Hello %(name)s. How can I help?"),
    "thanks": N_("You're welcome. Have a good day."),
    "clarify_yes": N_("Just to check, is that a yes for your %(visit)s on %(slot)s? Reply YES or NO."),
    "not_understood": N_(
        "Sorry, I did not quite understand. You can reply YES to confirm your visit, "
        "CHANGE to pick another time, or ask me a question."
    ),
    "menu": N_("Sorry, I am still not sure what you need. Please reply with a number:"),
    "out_of_scope": N_("Sorry, I can only help with visits to your home. Reply 3 to speak to someone."),
    "handoff": N_(
        "I have asked a member of our team to contact you. They will reply here during office hours, "
        "Monday to Friday, 9am to 5pm."
    ),
    "opted_out": N_("You will not get any more texts from us. Reply START if you change your mind."),
    "opted_in": N_("Thank you. You will get our texts again."),
    # Messages we cannot read as text.
    "unknown_number": N_(
        "Hello. We cannot find this number in our records, so we cannot share visit details. "
        "Please call us or ask your housing officer to add this number."
    ),
    "empty_message": N_(
        "Your message arrived empty. Please reply with a few words, for example YES to confirm your visit."
    ),
    "media_received": N_("Thank you, we got your photo. We have added it to your record for our team to see."),
    "voice_note": N_(
        "Sorry, we cannot listen to voice messages. Please reply by text, or reply 3 and someone will call you."
    ),
    "location_received": N_("Thank you, we got your location. We have added it to your record for our team."),
    "long_message": N_("Thank you for your message. We have passed it to our team, who will reply here."),
    "held": N_("Thank you, we have your message. A member of our team will reply soon."),
    # Language.
    "language_switched": N_("Thank you. We will write to you in %(language)s from now on."),
    "language_offer": N_("We can also text you in %(language)s. Reply %(request)s if you would like that."),
}

PLURAL_TEXTS = {
    "minutes": NP_("%(num)d minute", "%(num)d minutes"),
    "hours": NP_("%(num)d hour", "%(num)d hours"),
}
