"""A small HTTP client for the served tests: cookies, CSRF, and a TLS proxy's header.

The server is plain HTTP on loopback; like the TLS-terminating proxy a deployment puts in front,
each request says ``X-Forwarded-Proto: https`` (unless ``proxied=False``), so Django treats it
as HTTPS: HSTS is sent, secure cookies are set, and CSRF checks the ``https://`` origin.
The standard library only (``http.client``): the project does not depend on ``requests``.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def cookies(self) -> dict[str, str]:
        """Each Set-Cookie header of the response, by cookie name (the whole header line)."""
        lines = self.headers.get_all("Set-Cookie") or []
        return {line.split("=", 1)[0].strip(): line for line in lines}


@dataclass
class Client:
    host: str
    proxied: bool = True
    jar: dict[str, str] = field(default_factory=dict)
    timeout: float = 60
    csrf_token: str | None = None

    def get(self, path: str, **headers: str) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, data: dict[str, str]) -> Response:
        """POST a form with the CSRF token of the last page (GET the page first)."""
        form = dict(data)
        form.setdefault("csrfmiddlewaretoken", self.csrf_token or "")
        scheme = "https" if self.proxied else "http"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"{scheme}://{self.host}",
            "Referer": f"{scheme}://{self.host}{path}",
        }
        return self.request("POST", path, urllib.parse.urlencode(form).encode(), headers)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        connection = http.client.HTTPConnection(self.host, timeout=self.timeout)
        sent = {"Host": self.host, **(headers or {})}
        if self.proxied:
            sent["X-Forwarded-Proto"] = "https"
        if self.jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            raw = connection.getresponse()
            response = Response(raw.status, raw.headers, raw.read())
        finally:
            connection.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value
        found = CSRF_INPUT.search(response.text)
        if found:
            self.csrf_token = found.group(1)
        return response
