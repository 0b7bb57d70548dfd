"""The official account: the webhook WeChat pushes messages to, the chat-bot answering them,
and the editors' announcements.

- ``webhook``   transport: signatures, AES, replay and size guards, replies (wechatpy);
- ``bot``       what a message or event is answered with;
- ``binding``   the conversation that links a follower to a resident;
- ``knowledge`` the editors' FAQ base and the matcher built from it (``faq``);
- ``announcements`` create, preview, schedule, publish, retract; the admin API is in
  ``wx_backend.web.admin``.
"""

from wx_backend.official_account.webhook import bp

__all__ = ["bp"]
