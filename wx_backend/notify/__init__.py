"""Notifications: events become deliveries, deliveries are claimed, sent and settled.

An *event* (``booking_confirmed``, ``pickup_reminder``, ``booking_expired``,
``booking_cancelled``, ``delivery_switched``; ``draw_won`` and ``voucher_released`` about
lottery entries; the list with texts is ``texts.EVENTS``) about *subjects* becomes one
*delivery* row per channel the resident can be reached on (an ``announcement`` is the
one event whose subject is an announcement; it goes to followers who opted in and to
affected residents who allowed a subscribe message, see ``emit_announcement``):

- ``sms``          always, to the verified phone;
- ``wx_subscribe`` a mini-program subscribe message, when the resident allowed one of this
                   kind (each allowance is used up by one message);
- ``wx_template``  an official-account template message, when the resident follows it.

The row is unique per (event, subject, channel, recipient), so emitting twice creates
nothing new. Sending goes in three steps, each its own short transaction:

1. *reserve* and *claim*: a send job first reserves its due rows (a lease,
   ``NOTIFY_LEASE_SECONDS``, under its token); then, one provider call's worth at a time,
   they become ``sending`` under a fresh batch token with a fresh lease; only the claimer
   goes on with them;
2. *send*: SMS in provider batches (``SmsSender.send_batch``, the batch token travels
   with them), WeChat messages one call each on a small thread pool;
3. *settle*: ``sent``; or ``failed`` with the reason when the provider refuses for good
   (invalid number, user refused, template error); or ``retry`` with the next attempt
   after ``NOTIFY_RETRY_DELAYS`` when the refusal is temporary (rate limit, timeout, 5xx;
   an expired WeChat token is refreshed and retried at once by the client), until the
   delays are used up and it is ``failed`` too.

A worker that dies leaves its reserved rows past their lease: the sweep (every few seconds)
gives them to a new job. Rows it left ``sending`` (handed to a provider, no answer
recorded) are in doubt: the sweep asks the SMS provider which of them it accepted, by phone
and batch token, and settles those as sent; the rest go back to ``retry``. WeChat offers no way
to ask, so a WeChat message whose call was cut off is settled ``failed`` as "in doubt"
rather than risk sending it twice; ``wx-backend jobs retry`` resends it if an operator
decides so. What failed is listed by ``wx-backend jobs failed``.

Where each step lives: ``emit`` (events become rows), ``subjects`` (what a message says
about its booking, entry or announcement), ``send`` (claim, send, settle, and the jobs that
do it), ``recover`` (the sweep and senders that died), ``texts`` (each event's wording).
The names below are what the rest of the app calls; none of these modules imports this one.
"""

from wx_backend.notify.emit import announce, confirm_recent, emit, emit_announcement
from wx_backend.notify.recover import sweep
from wx_backend.notify.send import deliver, dispatch, nudge

__all__ = ["announce", "confirm_recent", "deliver", "dispatch", "emit", "emit_announcement",
           "nudge", "sweep"]
