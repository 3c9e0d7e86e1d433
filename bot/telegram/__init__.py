"""Telegram channel on aiogram 3: users in private chats, agents in a (forum) group. See channel.py."""

from bot.telegram.channel import TelegramChannel, TelegramConfig

__all__ = ["TelegramChannel", "TelegramConfig"]
