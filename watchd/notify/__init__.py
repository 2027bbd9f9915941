"""Notifications (DESIGN.md §4): the route tree, the durable outbox dispatcher, the receivers
(log, webhook, ticket, email, chat, mqtt, exec), templates and acknowledge links."""
