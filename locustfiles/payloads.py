"""Realistic Customer.io payloads from pools pre-generated with Faker, cheap to draw per request.

:class:`PayloadPool` is built once per process at ``test_start`` (Faker is slow; a request must not
wait for it). Each user owns a :class:`PayloadGenerator` with its own seeded ``random.Random``, so a
run is reproducible from ``--seed`` and two users never draw the same stream. Event ids are ULIDs
whose random part comes from that stream, so they are unique across users and reproducible too.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faker import Faker

from cio_contract.delivery import DELIVERY_ID_ATTRIBUTE

__all__ = ["EVENT_NAMES", "Person", "PayloadGenerator", "PayloadPool", "delivery_ids"]

_FAKER_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "pt_BR")
_PLANS = ("free", "starter", "growth", "pro", "enterprise")
_SIGNUP_METHODS = ("email", "google", "apple", "invite")
_CURRENCIES = ("USD", "EUR", "GBP")
_SCREENS = ("Home", "Search", "Product Detail", "Cart", "Checkout", "Order Status", "Settings")
_CATEGORIES = ("shoes", "outerwear", "accessories", "home", "beauty", "kitchen", "garden")
EVENT_NAMES = (
    "Order Completed",
    "Product Viewed",
    "Cart Updated",
    "Signed Up",
    "Subscription Started",
    "Password Reset Requested",
)
_EVENT_CUM_WEIGHTS = tuple(itertools.accumulate((2, 6, 3, 1, 1, 1)))
_CDP_KINDS = ("identify", "track", "page")
_CDP_CUM_WEIGHTS = (1, 4, 5)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two base32 digits per lookup: a ULID's text in 13 table lookups instead of 26 divisions.
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_TRANSACTIONAL_MESSAGES = ("order_confirmation", "password_reset", "1", "2", "7")
_SEGMENTS = (11, 12, 27)
_FORMS = ("newsletter", "signup", "contact")
# Delivery reports: mostly metrics (push via the older endpoint too), now and then an unsubscribe.
_METRIC_KINDS = ("metric", "push", "unsubscribe")
_METRIC_CUM_WEIGHTS = (6, 9, 10)
_LIBRARY = {"name": "customerio-load-scale", "version": "0.1.0"}


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class _Product:
    sku: str
    name: str
    category: str
    price: float


@dataclass(frozen=True)
class PayloadPool:
    """Pre-generated people and catalogue, shared read-only by every user of a process."""

    seed: int
    people: tuple[Person, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    companies: tuple[str, ...]
    locales: tuple[str, ...]
    products: tuple[_Product, ...]
    pages: tuple[tuple[str, str], ...]
    domains: tuple[str, ...]
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    """Pre-built ``(name, data)`` in catalogue proportions; requests pick one (data is never mutated)."""
    page_views: tuple[tuple[str, dict[str, Any]], ...] = ()
    screen_views: tuple[tuple[str, dict[str, Any]], ...] = ()
    orders: tuple[dict[str, Any], ...] = ()

    @classmethod
    def build(cls, seed: int, people: int = 5000, now: float | None = None) -> PayloadPool:
        """Generate the pools (about 0.3 s for 5000 people); same ``seed``, same pool."""
        fake = Faker(list(_FAKER_LOCALES))
        fake.seed_instance(seed)
        rng = random.Random(f"pool-{seed}")
        firsts = tuple(fake.first_name() for _ in range(200))
        lasts = tuple(fake.last_name() for _ in range(200))
        companies = tuple(fake.company() for _ in range(100))
        domains = tuple(sorted({fake.free_email_domain() for _ in range(12)} | {"example.com"}))
        products = tuple(_product(fake, rng, i) for i in range(200))
        pages = tuple(
            (f"https://shop.example.com/{fake.uri_path()}", fake.catch_phrase()) for _ in range(100)
        )
        pool = cls(seed, (), firsts, lasts, companies, _FAKER_LOCALES, products, pages, domains)
        created_base = int(now if now is not None else 1_790_000_000)
        persons = tuple(pool.make_person(f"cus-{seed}-{i:07d}", rng, created_base) for i in range(people))
        names = rng.choices(EVENT_NAMES, cum_weights=_EVENT_CUM_WEIGHTS, k=1000)
        return cls(
            seed, persons, firsts, lasts, companies, _FAKER_LOCALES, products, pages, domains,
            events=tuple((name, _event_data(name, rng, products)) for name in names),
            page_views=tuple(_page_view(rng, pages) for _ in range(300)),
            screen_views=tuple(_screen_view(rng) for _ in range(100)),
            orders=tuple(_event_data("Order Completed", rng, products) for _ in range(300)),
        )  # fmt: skip

    def make_person(self, person_id: str, rng: random.Random, now: int) -> Person:
        first, last = rng.choice(self.first_names), rng.choice(self.last_names)
        local = "".join(c for c in f"{first}.{last}".lower() if c.isascii() and (c.isalnum() or c == "."))
        email = f"{local or 'user'}.{person_id}@{rng.choice(self.domains)}"
        attributes = {
            "email": email,
            "first_name": first,
            "last_name": last,
            "plan": rng.choice(_PLANS),
            "locale": rng.choice(self.locales),
            "company": rng.choice(self.companies),
            "created_at": now - rng.randrange(3 * 365 * 86400),
        }
        return Person(person_id, email, attributes)


def _product(fake: Faker, rng: random.Random, index: int) -> _Product:
    name = f"{fake.color_name()} {fake.word().title()} {rng.choice(('Tee', 'Boot', 'Mug', 'Lamp', 'Bag'))}"
    return _Product(f"SKU-{index:05d}", name, rng.choice(_CATEGORIES), round(rng.uniform(3, 400), 2))


def _event_data(name: str, rng: random.Random, products: tuple[_Product, ...]) -> dict[str, Any]:
    product = rng.choice(products)
    if name == "Order Completed":
        items = [_item(rng, products) for _ in range(rng.randint(1, 4))]
        total = round(sum(i["price"] * i["quantity"] for i in items), 2)
        return {"order_id": f"ord-{rng.getrandbits(40):010x}", "total": total,
                "currency": rng.choice(_CURRENCIES), "items": items}  # fmt: skip
    if name == "Product Viewed":
        return {
            "sku": product.sku,
            "name": product.name,
            "category": product.category,
            "price": product.price,
        }
    if name == "Cart Updated":
        return {"items": rng.randint(1, 8), "value": round(product.price * rng.randint(1, 3), 2)}
    if name == "Signed Up":
        return {"method": rng.choice(_SIGNUP_METHODS)}
    if name == "Subscription Started":
        return {"plan": rng.choice(_PLANS[1:]), "interval": rng.choice(("monthly", "yearly"))}
    return {}


def _item(rng: random.Random, products: tuple[_Product, ...]) -> dict[str, Any]:
    p = rng.choice(products)
    return {"sku": p.sku, "name": p.name, "price": p.price, "quantity": rng.randint(1, 3)}


def _page_view(rng: random.Random, pages: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, Any]]:
    url, title = rng.choice(pages)
    return url, {"title": title, "referrer": rng.choice(("google", "newsletter", "direct", "ads"))}


def _screen_view(rng: random.Random) -> tuple[str, dict[str, Any]]:
    return rng.choice(_SCREENS), {"app_version": f"4.{rng.randrange(12)}.{rng.randrange(10)}"}


class PayloadGenerator:
    """One user's stream of payloads: people (new vs returning, hot skew), events, batches."""

    def __init__(
        self,
        pool: PayloadPool,
        stream: str,
        *,
        new_share: float = 0.1,
        hot_share: float = 0.5,
        hot_fraction: float = 0.01,
        clock: Callable[[], float] = time.time,
        delivery_ids: bool = True,
    ):
        self.pool = pool
        self.delivery_ids = delivery_ids
        """Give calls without an id field (identify, transactional) one in ``DELIVERY_ID_ATTRIBUTE``."""
        self.rng = random.Random(f"{pool.seed}-{stream}")
        self.stream = stream
        self.new_share = new_share
        self.hot_share = hot_share
        self.hot_count = max(1, int(len(pool.people) * hot_fraction))
        self.clock = clock
        self._new = 0

    # People -------------------------------------------------------------------------------------
    def person(self) -> Person:
        """A brand-new person with probability ``new_share``, else a returning one (hot-skewed)."""
        rng = self.rng
        if rng.random() < self.new_share or not self.pool.people:
            self._new += 1
            return self.pool.make_person(f"new-{self.stream}-{self._new}", rng, int(self.clock()))
        if rng.random() < self.hot_share:
            return self.pool.people[rng.randrange(self.hot_count)]
        return self.pool.people[rng.randrange(len(self.pool.people))]

    def event_id(self) -> str:
        """A ULID: the time now (48 bits of ms), randomness (80 bits) from this user's seeded stream."""
        value = (int(self.clock() * 1000) << 80) | self.rng.getrandbits(80)
        # 128 bits as 26 Crockford digits: 3 bits, then 12 pairs of 5-bit digits, then 5 bits.
        pairs = _PAIRS
        text = [_CROCKFORD[value >> 125]]
        text.extend(pairs[(value >> shift) & 0x3FF] for shift in range(115, 0, -10))
        text.append(_CROCKFORD[value & 0x1F])
        return "".join(text)

    # Track API v1 -------------------------------------------------------------------------------
    def identify(self) -> tuple[str, dict[str, Any]]:
        """``(person id, body)`` for ``PUT /api/v1/customers/{id}``."""
        person = self.person()
        now = int(self.clock())
        body = {**person.attributes, "last_seen_at": now, "_timestamp": now}
        if self.delivery_ids:
            body[DELIVERY_ID_ATTRIBUTE] = self.event_id()
        return person.id, body

    def event(self, kind: str = "event") -> tuple[str, dict[str, Any]]:
        """``(person id, body)`` for ``POST /api/v1/customers/{id}/events``; kind event/page/screen."""
        person = self.person()
        name, data = self._named_data(kind)
        body: dict[str, Any] = {
            "name": name,
            "data": data,
            "id": self.event_id(),
            "timestamp": int(self.clock()),
        }
        if kind != "event":
            body["type"] = kind
        return person.id, body

    def anonymous_event(self) -> dict[str, Any]:
        """Body for ``POST /api/v1/events`` from a visitor not yet identified."""
        name, data = self._named_data("event")
        anonymous_id = f"anon-{self.rng.getrandbits(64):016x}"
        return {"name": name, "anonymous_id": anonymous_id, "data": data, "id": self.event_id(),
                "timestamp": int(self.clock())}  # fmt: skip

    def _named_data(self, kind: str) -> tuple[str, dict[str, Any]]:
        views = (
            self.pool.page_views if kind == "page" else self.pool.screen_views if kind == "screen" else None
        )
        return self.rng.choice(views if views is not None else self.pool.events)

    # Track API v2 -------------------------------------------------------------------------------
    def v2_operation(self) -> dict[str, Any]:
        """One ``/api/v2/batch`` operation: an identify (1 in 3) or an event."""
        if self.rng.random() < 1 / 3:
            person_id, body = self.identify()
            return {
                "type": "person",
                "action": "identify",
                "identifiers": {"id": person_id},
                "attributes": body,
            }
        person_id, body = self.event(self.rng.choice(("event", "event", "page", "screen")))
        return {"type": "person", "action": body.get("type", "event"), "identifiers": {"id": person_id},
                "name": body["name"], "id": body["id"], "timestamp": body["timestamp"],
                "attributes": body["data"]}  # fmt: skip

    def v2_batch(self, size: int) -> dict[str, Any]:
        return {"batch": [self.v2_operation() for _ in range(size)]}

    # App API ------------------------------------------------------------------------------------
    def transactional_email(self) -> dict[str, Any]:
        """Body for ``POST /v1/send/email`` (a triggered template with message data)."""
        person = self.person()
        data = {"first_name": person.attributes["first_name"], **self.rng.choice(self.pool.orders)}
        if self.delivery_ids:
            data[DELIVERY_ID_ATTRIBUTE] = self.event_id()
        return {
            "transactional_message_id": self.rng.choice(_TRANSACTIONAL_MESSAGES),
            "to": person.email,
            "identifiers": {"id": person.id},
            "message_data": data,
        }

    def message(self) -> dict[str, Any]:
        """Body for ``POST /v1/send/{whatsapp,inbox_message,in_app}``: a template for one person."""
        person = self.person()
        return {
            "transactional_message_id": self.rng.choice(_TRANSACTIONAL_MESSAGES),
            "identifiers": {"id": person.id},
            "message_data": {"first_name": person.attributes["first_name"]},
        }

    # Track API v1: segments, forms, delivery metrics --------------------------------------------
    def segment_ids(self) -> tuple[str, dict[str, Any]]:
        """``(segment id, body)`` for a manual segment's ``add_customers``/``remove_customers``."""
        ids = [self.person().id for _ in range(self.rng.randint(1, 10))]
        return str(self.rng.choice(_SEGMENTS)), {"ids": ids}

    def form_submission(self) -> tuple[str, dict[str, Any]]:
        """``(form id, body)`` for ``POST /api/v1/forms/{id}/submit``: string fields, one identifier."""
        person = self.person()
        fields = {k: str(person.attributes[k]) for k in ("first_name", "last_name", "plan")}
        return self.rng.choice(_FORMS), {"data": {"email": person.email, **fields}}

    def delivery_metric(self) -> tuple[str, str, dict[str, Any]]:
        """``(kind, delivery id, body)``: a push metric, a universal metric or an unsubscribe."""
        kind = self.rng.choices(_METRIC_KINDS, cum_weights=_METRIC_CUM_WEIGHTS)[0]
        delivery_id = f"dlv-{self.rng.getrandbits(48):012x}"
        now = int(self.clock())
        if kind == "push":
            event = self.rng.choice(("delivered", "opened"))
            device = f"tok-{self.rng.getrandbits(32):08x}"
            body = {"delivery_id": delivery_id, "event": event, "device_id": device, "timestamp": now}
        elif kind == "metric":
            metric = self.rng.choice(("delivered", "opened", "clicked", "converted"))
            body = {"delivery_id": delivery_id, "metric": metric, "timestamp": now}
        else:
            body = {"unsubscribe": True}
        return kind, delivery_id, body

    # Data Pipelines -----------------------------------------------------------------------------
    def cdp_message(self) -> dict[str, Any]:
        """One Pipelines call (identify, track or page) as an analytics library sends it."""
        kind = self.rng.choices(_CDP_KINDS, cum_weights=_CDP_CUM_WEIGHTS)[0]
        person = self.person()
        message: dict[str, Any] = {
            "type": kind,
            "userId": person.id,
            "messageId": self.event_id(),
            "timestamp": datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds"),
            "context": {"library": _LIBRARY},
        }
        if kind == "identify":
            message["traits"] = dict(person.attributes)
        elif kind == "track":
            name, data = self._named_data("event")
            message.update(event=name, properties=data)
        else:
            url, data = self._named_data("page")
            message.update(name=data["title"], properties={"url": url})
        return message

    def cdp_batch(self, size: int) -> dict[str, Any]:
        return {"batch": [self.cdp_message() for _ in range(size)]}


def delivery_ids(endpoint: str, body: dict[str, Any]) -> list[str]:
    """The delivery ids a call of ``endpoint`` (a ``cio_contract`` endpoint name) carries, in order."""
    if endpoint in ("track", "track_anonymous"):
        return [body["id"]] if "id" in body else []
    if endpoint == "identify":
        return [body[DELIVERY_ID_ATTRIBUTE]] if DELIVERY_ID_ATTRIBUTE in body else []
    # Batches: one entry per operation ("" for one without an id), so a 207's batch_index finds its id.
    if endpoint == "v2_batch":
        return [
            op.get("id") or op.get("attributes", {}).get(DELIVERY_ID_ATTRIBUTE) or "" for op in body["batch"]
        ]
    if endpoint == "cdp_batch":
        return [m.get("messageId") or "" for m in body["batch"]]
    if endpoint.startswith("send_"):
        data = body.get("message_data") or {}
        return [data[DELIVERY_ID_ATTRIBUTE]] if DELIVERY_ID_ATTRIBUTE in data else []
    return []
