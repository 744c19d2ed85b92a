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
    "reminder_confirmed": N_(
        "Hello %(name)s, a reminder that your %(visit)s is on %(slot)s. See you then. "
        "Reply CHANGE if you need another time."
    ),
    "reminder_day_before": N_(
        "Hello %(name)s, your %(visit)s is tomorrow, %(slot)s. %(operative)s will come and will tell you "
        "the code %(code)s, so you know it is us. Reply YES to confirm, or CHANGE for another time."
    ),
    "reminder_plain": N_(
        "%(slot)s: we are coming to your home for your %(visit)s. "
        "Reply YES if this is OK. Reply CHANGE for another time."
    ),
    "reminder_discreet": N_(
        "Hello, a reminder of your appointment on %(slot)s. "
        "Reply YES if that still suits you, or CHANGE for another time."
    ),
    "reminder_discreet_day_before": N_(
        "Hello, your appointment is tomorrow, %(slot)s. %(operative)s will tell you the code %(code)s. "
        "Reply YES if that still suits you, or CHANGE for another time."
    ),
    "reminder_unverified": N_(
        "Hello, we have a message about a visit to your home. To see it, please reply with the first line "
        "of your address or your postcode."
    ),
    # Answers about a visit.
    "confirmed": N_("Thank you, your %(visit)s on %(slot)s is confirmed. We will remind you the evening before."),
    # When no reminder is still to come (the visit is later today): no promise we will not keep.
    "confirmed_no_reminder": N_("Thank you, your %(visit)s on %(slot)s is confirmed."),
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
    "moved_no_reminder": N_("Done. Your %(visit)s is now on %(slot)s."),
    "slot_gone": N_("Sorry, that time has just been taken. Here are the nearest free times:"),
    "slot_passed": N_("Sorry, that time has passed. Here are the next free times:"),
    "slot_too_soon": N_("Sorry, that time is now too soon for us to get to you. Here are the next free times:"),
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
    # Sent as an approved WhatsApp template when an officer must write after the 24-hour window.
    "officer_follow_up": N_(
        "Hello %(name)s, a member of our housing team has a reply for you about your home. "
        "Please reply to this message and we will continue here."
    ),
    # Someone at the door: is it really us?
    "door_yes": N_(
        "Yes, %(operative)s is booked to visit you now for your %(visit)s. Ask them to tell you your code. "
        "It should be %(code)s. If it is not, please do not let them in."
    ),
    "door_no": N_("We have nobody booked to visit you now. Please do not let them in. If you feel unsafe, call 999."),
    # Checking a number is the tenant's before sharing any visit detail.
    "verify_ask": N_(
        "Before we share any visit details, please help us check this number is yours. "
        "What is the first line of your address, or your postcode?"
    ),
    "verify_retry": N_(
        "Sorry, that does not match our records. Please try again: what is the first line of your address, "
        "or your postcode?"
    ),
    "verify_ok": N_("Thank you, that's confirmed."),
    "verify_failed": N_("Sorry, we could not check this number. A member of our team will contact you."),
    # What would make a visit easier (adjustments).
    "ask_needs": N_(
        "Is there anything that would make the visit easier for you? For example more time to get to the door, "
        "an interpreter, or someone with you. Just tell us, or reply NO."
    ),
    "needs_none": N_("Thank you. If anything changes, just tell us at any time."),
    "needs_tell_more": N_("Please tell us in a few words what would help."),
    "needs_consent": N_(
        "Thank you for telling us. Can we keep a note of this so we can plan your visits around it? "
        "Only staff who arrange your visits will see it. Reply YES or NO."
    ),
    "needs_recorded": N_("Thank you, we have made a note."),
    "needs_not_recorded": N_("That's fine, we have not kept a note. You can tell us again at any time."),
    "effect.no_calls": N_(
        "We will only contact you by text, never by phone. The person visiting will knock loudly and wait."
    ),
    "effect.extra_time": N_(
        "The person visiting will wait longer at your door, and we will book longer visits for you."
    ),
    "effect.support_person": N_(
        "We will plan your visits so your support person can be there. "
        "Someone from our team will contact you to arrange it."
    ),
    "effect.interpreter": N_(
        "We will book an interpreter for your visits. Someone from our team will contact you to arrange it."
    ),
    "effect.female_operative": N_(
        "We will ask for a woman to do your visits. Someone from our team will let you know."
    ),
    "effect.extra_reminders": N_("We will also send you a reminder on the morning of each visit."),
    "effect.call_before": N_("Someone from our team will phone you the day before each visit."),
    "effect.plain_language": N_("We will keep our messages short and simple."),
    "effect.other": N_("Someone from our team will read what you told us and contact you about it."),
    # Discreet contact, for tenants for whom a message could be unsafe.
    "visit_type.discreet": N_("appointment"),
    "discreet_consent": N_(
        "Thank you for telling us. We can keep our texts private: they will not say who we are, what the visit "
        "is for or your address. Only our safeguarding team will see this. Is that OK? Reply YES or NO."
    ),
    "discreet_ask_times": N_("When is it safe for us to text you? For example: weekdays 10am to 2pm."),
    "discreet_times_unclear": N_(
        "Sorry, I did not catch the times. Please give a start and an end time, for example 10am to 2pm."
    ),
    "discreet_ask_word": N_(
        "If you ever need to end a chat quickly, choose a word to send us. We will reply with a short, ordinary "
        "message and stop. What word would you like?"
    ),
    "discreet_done": N_(
        "Thank you. We will only text you between %(start)s and %(end)s. If you send %(word)s, we will stop at once. "
        "Someone from our safeguarding team will contact you at a safe time."
    ),
    "discreet_exit": N_("OK, thank you. Bye."),
    # Deleting what we hold about a tenant's needs.
    "erase_ask": N_(
        "Do you want us to delete the notes we keep about your needs and circumstances? "
        "Reply YES to delete them, or NO to keep them."
    ),
    "erased": N_("Done. We have deleted those notes."),
    "erase_kept": N_("OK, we have kept your notes."),
    "nothing_to_erase": N_("We do not keep any notes about your needs or circumstances."),
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
    # Operatives on their way, and visits we missed.
    "on_my_way": N_(
        "Hello, %(operative)s is on the way for your %(visit)s and should be with you at about %(eta)s. "
        "They will tell you the code %(code)s at the door. See updates: %(link)s"
    ),
    "running_late": N_(
        "Sorry, %(operative)s is running late for your %(visit)s. They should now be with you at about %(eta)s. "
        "See updates: %(link)s"
    ),
    "on_way_told": N_("Thank you for letting us know. We have passed your message on to %(operative)s and our team."),
    "ask_another_time": N_("What day and time would suit you better? For example: Thursday afternoon."),
    "on_way_still_coming": N_("%(operative)s is on the way and should be with you at about %(eta)s."),
    "nobody_came_not_yet": N_(
        "Your %(visit)s is booked for %(slot)s, so we may still be on the way. "
        "If nobody has come by the end of that time, please tell us."
    ),
    "nobody_came_checking": N_(
        "Thank you for telling us, and sorry for the trouble. We are checking what happened with your %(visit)s. "
        "Someone from our team will contact you soon."
    ),
    "nobody_came_no_visit": N_(
        "Sorry about that. I cannot find a visit that was due. I have asked our team to look into it and contact you."
    ),
    "missed_sorry": N_(
        "We are very sorry: we did not come for your %(visit)s on %(slot)s. That was our fault, not yours."
    ),
    "missed_team_will_rebook": N_("Someone from our team will contact you to find a new time."),
    # The tracking page linked from the "on my way" text.
    "track.heading": N_("Your %(visit)s"),
    "track.window": N_("Booked for %(slot)s"),
    "track.waiting": N_("Not on the way yet. This page will show when they set off."),
    "track.on_my_way": N_("On the way. Expected at about %(eta)s."),
    "track.running_late": N_("Sorry, running late. Now expected at about %(eta)s."),
    "track.arrived": N_("They have arrived."),
    "track.finished": N_("The visit is finished. Thank you."),
    "track.not_going_ahead": N_("This visit is not going ahead as booked. We will be in touch about a new time."),
    "track.updated": N_("Last update: %(time)s."),
    "track.reload": N_("Reload this page to see the latest."),
    # No-access follow-ups. After a visit where nobody could let us in, by the policy's stage
    # (config.yml `no_access_policy:`). Never blame: "we haven't been able to visit yet". New times follow.
    "no_access.friendly": N_(
        "Hello %(name)s, sorry we missed you for your %(visit)s on %(slot)s. "
        "We haven't been able to visit yet, so let's find a time that suits you better."
    ),
    "no_access.firmer": N_(
        "Hello %(name)s, we still haven't been able to do your %(visit)s, and it matters for your safety at home."
    ),
    "no_access.case": N_(
        "Hello %(name)s, we still haven't been able to do your %(visit)s. It is important, so someone from our "
        "team will contact you to find a way that works for you."
    ),
    "no_access.help_offer": N_("If anything makes visits hard for you, just tell us and we will help."),
    "no_access_discreet.friendly": N_(
        "Hello, sorry we missed you for your appointment on %(slot)s. Let's find a time that suits you better."
    ),
    "no_access_discreet.firmer": N_(
        "Hello, we still haven't been able to keep your appointment. "
        "If anything makes it hard, just tell us and we will help."
    ),
    "no_access_discreet.case": N_(
        "Hello, we still haven't been able to keep your appointment. "
        "Someone from our team will contact you at a safe time to help."
    ),
    # Reasons and how the visit went.
    # One optional question after a completed visit; discreet contact names no visit and no landlord.
    "how_it_went": N_(
        "How did your visit go? Reply with a number from 1 (poor) to 5 (very good), or ignore this message."
    ),
    "how_it_went_discreet": N_(
        "How did your appointment go? Reply with a number from 1 (poor) to 5 (very good), or ignore this message."
    ),
    "how_it_went_thanks": N_("Thank you for telling us."),
    # Combined visits.
    # Other work pending at the home, offered in a visit just moved (service/jobs.py). Discreet contact
    # gets the _discreet words, which never say what the work is.
    "combine_offer": N_(
        "While we are there, we can also do your %(jobs)s in the same visit, so you have one visit instead of two. "
        "Reply YES to add it, or NO to keep them separate."
    ),
    "combine_offer_discreet": N_(
        "While we are there, we can also do another check in the same visit, so you have one visit instead of two. "
        "Reply YES to add it, or NO to keep them separate."
    ),
    "combine_clarify": N_("Just to check: reply YES to have both done in one visit, or NO to keep them separate."),
    "combine_done": N_("Done. We will also do your %(jobs)s in the same visit, now %(slot)s."),
    "combine_done_discreet": N_("Done. We will do both in the same appointment, now %(slot)s."),
    "combine_kept": N_("No problem, we will keep them separate."),
    "combine_gone": N_(
        "Sorry, that time is no longer free for both, so we have kept them separate. Your %(visit)s stays on %(slot)s."
    ),
    "list_and": N_("%(items)s and %(last)s"),
}

PLURAL_TEXTS = {
    "minutes": NP_("%(num)d minute", "%(num)d minutes"),
    "hours": NP_("%(num)d hour", "%(num)d hours"),
}
