"""Believe X-Forwarded-For, -Proto and -Host only from the proxy (FORWARDED_ALLOW_IPS).

Behind Caddy every request comes from Caddy, over http: werkzeug's ProxyFix reads the one
hop Caddy adds, for connections from FORWARDED_ALLOW_IPS only, so that a client reaching the
app directly cannot set its own address or scheme. Unset (the default): trust no one.
"""

from ipaddress import ip_address, ip_network
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxyFix:
    def __init__(self, app: WSGIApplication, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.proxied = ProxyFix(app, x_for=1, x_proto=1, x_host=1)
        self.networks = [ip_network(item, strict=False) for item in allowed]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse):
        if self.from_proxy(environ.get("REMOTE_ADDR", "")):
            return self.proxied(environ, start_response)
        return self.app(environ, start_response)

    def from_proxy(self, address: str) -> bool:
        try:
            peer = ip_address(address)
        except ValueError:  # a unix socket, or no address at all
            return False
        return any(peer in network for network in self.networks)
