"""``barnum web``: the fleet as a live web page, over :class:`barnum.live.session.FleetSession`.

- :mod:`barnum.web.model`: the pure view model (rows, flags, counters, order);
- :mod:`barnum.web.history`: what events teach over time (timeline, flapping, sparklines);
- :mod:`barnum.web.render`: server-side HTML, every host string through ``html()``;
- :mod:`barnum.web.auth`: tokens, sessions, CSRF, Origin and Host checks;
- :mod:`barnum.web.actions`: planned circusctl actions (no arbitrary command);
- :mod:`barnum.web.metrics`: Prometheus text;  :mod:`barnum.web.audit`: audit lines;
- :mod:`barnum.web.app`: the Starlette routes and the event hub.
"""
