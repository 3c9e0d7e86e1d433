"""Email channel: SMTP in (aiosmtpd listener), SMTP out (aiosmtplib via the company relay). See channel.py."""

from bot.email.channel import EmailChannel, EmailConfig

__all__ = ["EmailChannel", "EmailConfig"]
