"""The public web pages, served by the bot on the Stripe webhook's aiohttp server under /web.

- /web/odds: the odds calculator (the service's own odds: one model, the same refusals as /odds)
- /web/transparency: predicted vs observed tier shares, refunds by reason, provider availability
- /web/c/<slug>: a community's gallery, when its admin turned it on (/config gallery on)
- /web/app: the Telegram Mini App (the person's own collection, and a pull), every call signed by Telegram

Server-rendered (Jinja2), no JavaScript needed except in the Mini App, nothing loaded from elsewhere.
`build_web_app` (bot/web/app.py) makes the sub-application; docs/web.md describes the pages.
"""
