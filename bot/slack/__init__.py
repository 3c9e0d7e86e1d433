"""Slack channel (slack-bolt): DMs, mentions, /it, App Home for users; handoff notices, Take and thread relay
for agents. See bot/slack/mount.py."""

from bot.slack.mount import SlackChannel

__all__ = ["SlackChannel"]
