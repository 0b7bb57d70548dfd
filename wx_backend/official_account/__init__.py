"""The official account (公众号): webhook and chat-bot handlers live in this package.

Sending to followers uses ``wx_backend.wechat.official_account_client()``; the webhook,
its message handlers and the menu arrive with the chat-bot work (issue 5).
"""
