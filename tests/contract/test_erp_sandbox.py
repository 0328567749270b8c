"""The Odoo sandbox on the wire: every endpoint and error shape, raw, through the client and through odoorpc.

odoorpc is an independent JSON-RPC client; versions 17, 18 (JSON-RPC) and 19 (JSON-RPC and JSON-2).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import odoorpc
import pytest

from connectors.erp.client import OdooClient
from connectors.erp.sandbox import API_KEY, DATABASE, LOGIN, OdooSandbox, RunningSandbox, create_app, start
from sync_core.domain.errors import ErrorCategory, PermanentError, RetryableError

VERSIONS = (17, 18, 19)
ERROR_KEYS = {"name", "message", "arguments", "context", "debug"}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, RunningSandbox]]:
    running = {v: start(create_app(seed=3, version=v, records=8)) for v in VERSIONS}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(params=VERSIONS, ids=lambda v: f"odoo{v}")
def version(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def fresh(servers: dict[int, RunningSandbox], version: int) -> RunningSandbox:
    server = servers[version]
    server.sandbox.reset()
    return server


@pytest.fixture
def server(servers: dict[int, RunningSandbox], version: int) -> RunningSandbox:
    return fresh(servers, version)


@pytest.fixture
def v19(servers: dict[int, RunningSandbox]) -> RunningSandbox:
    return fresh(servers, 19)


@pytest.fixture
def v17(servers: dict[int, RunningSandbox]) -> RunningSandbox:
    return fresh(servers, 17)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


_clients: list[OdooClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def client_for(server: RunningSandbox, key: str = API_KEY, **options: Any) -> OdooClient:
    made = OdooClient(server.url, DATABASE, LOGIN, key, **options)
    _clients.append(made)
    return made


def odoo_for(server: RunningSandbox, key: str = API_KEY) -> odoorpc.ODOO:
    host, port = server.url.removeprefix("http://").split(":")
    odoo = odoorpc.ODOO(host, port=int(port))
    odoo.login(DATABASE, LOGIN, key)
    return odoo


def rpc(http: httpx.Client, server: RunningSandbox, service: str, method: str, args: list[Any]) -> dict[str, Any]:
    """One raw JSON-RPC call; asserts the transport-level contract (HTTP 200, the request id echoed)."""
    response = http.post(f"{server.url}/jsonrpc", json={"jsonrpc": "2.0", "method": "call", "id": 41,
                                                       "params": {"service": service, "method": method, "args": args}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == 41
    return body


def execute_kw(http: httpx.Client, server: RunningSandbox, model: str, method: str, args: list[Any],
               kwargs: dict[str, Any] | None = None, key: str = API_KEY) -> dict[str, Any]:
    return rpc(http, server, "object", "execute_kw", [DATABASE, 2, key, model, method, args, kwargs or {}])


def rpc_error(body: dict[str, Any]) -> dict[str, Any]:
    """The `error.data` of a JSON-RPC error answer, after checking its envelope."""
    assert "result" not in body
    assert body["error"]["code"] == 200
    assert body["error"]["message"] == "Odoo Server Error"
    data: dict[str, Any] = body["error"]["data"]
    assert set(data) >= ERROR_KEYS
    assert data["arguments"][0] == data["message"]
    assert data["debug"].startswith("Traceback")
    return data


def json2(http: httpx.Client, server: RunningSandbox, model: str, method: str, body: dict[str, Any] | None = None,
          key: str | None = API_KEY, database: str | None = DATABASE) -> httpx.Response:
    headers = {}
    if key is not None:
        headers["Authorization"] = f"bearer {key}"
    if database is not None:
        headers["X-Odoo-Database"] = database
    return http.post(f"{server.url}/json/2/{model}/{method}", json=body or {}, headers=headers)


def json2_error(response: httpx.Response, status: int, name: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= ERROR_KEYS
    assert body["name"] == name
    return body


def refused(action: Any) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        action()
    return caught.value


# -- versions ---------------------------------------------------------------------------------------------------


def test_every_version_answers_its_version_on_every_probe(server: RunningSandbox, version: int,
                                                          http: httpx.Client) -> None:
    assert http.get(f"{server.url}/web/version").json() == {
        "version_info": [version, 0, 0, "final", 0, ""], "version": f"{version}.0"}
    common = rpc(http, server, "common", "version", [])["result"]
    assert common["server_version"] == f"{version}.0"
    assert common["server_version_info"][0] == version
    assert common["protocol_version"] == 1
    # odoorpc probes /web/webclient/version_info on its own
    assert odoo_for(server).version == f"{version}.0"
    client = client_for(server)
    assert client.version().major == version
    assert client.transport == ("json2" if version >= 19 else "jsonrpc")
    # the Date header follows the sandbox's (business) clock, so a client can tell the ERP's today
    assert client.server_time is not None
    assert abs(client.server_time - server.sandbox.clock.now()) < timedelta(seconds=5)


def test_json2_is_only_served_from_version_19(servers: dict[int, RunningSandbox], http: httpx.Client) -> None:
    for version in (17, 18):
        response = json2(http, fresh(servers, version), "res.users", "context_get")
        assert response.status_code == 404
    assert json2(http, fresh(servers, 19), "res.users", "context_get").json() == {
        "lang": "en_US", "tz": "Europe/Brussels", "uid": 2}


# -- JSON-RPC ---------------------------------------------------------------------------------------------------


def test_login_and_authenticate_give_the_uid_or_false(server: RunningSandbox, http: httpx.Client) -> None:
    assert rpc(http, server, "common", "login", [DATABASE, LOGIN, API_KEY])["result"] == 2
    assert rpc(http, server, "common", "authenticate", [DATABASE, LOGIN, API_KEY, {}])["result"] == 2
    # A wrong key is no error: the answer is false
    assert rpc(http, server, "common", "login", [DATABASE, LOGIN, "wrong"])["result"] is False
    assert rpc(http, server, "common", "authenticate", [DATABASE, "nobody", API_KEY, {}])["result"] is False
    with pytest.raises(odoorpc.error.RPCError, match="Wrong login ID or password"):
        odoo_for(server, "wrong")
    assert client_for(server).uid() == 2
    assert refused(client_for(server, "wrong").uid).category is ErrorCategory.PERMISSION


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_jsonrpc_errors_are_http_200_with_odoos_error_object(server: RunningSandbox, http: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (execute_kw(http, server, "res.partner", "search", [[]], key="wrong"), "odoo.exceptions.AccessDenied",
         "Access Denied"),
        (execute_kw(http, server, "no.such.model", "search", [[]]), "odoo.exceptions.UserError",
         "Object no.such.model doesn't exist"),
        (execute_kw(http, server, "res.partner", "fly", [[]]), "builtins.AttributeError", "does not exist"),
        (execute_kw(http, server, "res.partner", "_private", [[]]), "odoo.exceptions.AccessError",
         "cannot be called remotely"),
        (execute_kw(http, server, "res.partner", "search_read", [], {"colour": "red"}), "builtins.TypeError",
         "unexpected keyword argument 'colour'"),
        # Odoo's create wrapper reads args[0]: values passed by keyword fail
        (execute_kw(http, server, "res.partner", "create", [], {"vals_list": [{"name": "X"}]}),
         "builtins.IndexError", "index out of range"),
        (execute_kw(http, server, "sale.order", "write", [[1], {"state": "shipped"}]),
         "odoo.exceptions.ValidationError", "Wrong value for sale.order.state"),
        (execute_kw(http, server, "res.partner", "read", [[99999], ["name"]]), "odoo.exceptions.MissingError",
         "Record does not exist or has been deleted"),
        (execute_kw(http, server, "res.partner", "search_read", [[["name", "~", "x"]]]), "builtins.ValueError",
         "Invalid operator"),
        (rpc(http, server, "object", "execute_kw", ["nodb", 2, API_KEY, "res.partner", "search", [[]], {}]),
         "psycopg2.OperationalError", 'database "nodb" does not exist'),
    ]
    for body, name, message in cases:
        data = rpc_error(body)
        assert data["name"] == name
        assert message in data["message"]


@pytest.mark.parametrize(
    ("model", "method", "args", "kwargs", "category", "name"),
    [
        ("res.partner", "search", [[]], {}, ErrorCategory.PERMISSION, "AccessDenied"),
        ("no.such.model", "search", [[]], {}, ErrorCategory.MAPPING, "doesn't exist"),
        ("res.partner", "fly", [], {}, ErrorCategory.MAPPING, "AttributeError"),
        ("sale.order", "write", [[1]], {"vals": {"state": "shipped"}}, ErrorCategory.VALIDATION, "ValidationError"),
        ("res.partner", "read", [[99999]], {}, ErrorCategory.MISSING_REFERENCE, "MissingError"),
    ],
)
def test_the_client_translates_jsonrpc_errors(v17: RunningSandbox, model: str, method: str, args: list[Any],
                                              kwargs: dict[str, Any], category: ErrorCategory, name: str) -> None:
    client = client_for(v17)
    if category is ErrorCategory.PERMISSION:
        client.uid()
        client._key = "wrong"  # a key revoked after login: execute_kw is refused
    ids = args[0] if args else None
    error = refused(lambda: client.call(model, method, ids=ids, **kwargs))
    assert error.category is category
    assert name in error.message


def test_odoorpc_reads_and_writes_through_its_model_proxies(server: RunningSandbox) -> None:
    odoo = odoo_for(server)
    partners = odoo.env["res.partner"]  # built from fields_get
    company_id = partners.create({"name": "Odoorpc Ltd", "is_company": True, "ref": "c-odoorpc"})
    assert isinstance(company_id, int)
    record = partners.browse(company_id)
    assert (record.name, record.ref, record.is_company) == ("Odoorpc Ltd", "c-odoorpc", True)
    record.write({"city": "Ghent"})
    found = partners.search_read([("ref", "=", "c-odoorpc")], ["city", "write_date"])
    assert found[0]["city"] == "Ghent"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", found[0]["write_date"])  # Odoo's format, whole seconds
    assert odoo.execute("res.partner", "search_count", [("is_company", "=", True)]) == 9
    with pytest.raises(odoorpc.error.RPCError) as caught:
        odoo.execute_kw("res.partner", "write", [[company_id], {"type": "spaceship"}])
    assert caught.value.info["data"]["name"] == "odoo.exceptions.ValidationError"
    assert caught.value.info["code"] == 200


# -- JSON-2 ------------------------------------------------------------------------------------------------------


def test_json2_answers_bare_results_for_named_arguments(v19: RunningSandbox, http: httpx.Client) -> None:
    created = json2(http, v19, "res.partner", "create", {"vals_list": [{"name": "Json Two", "is_company": True}]})
    assert created.status_code == 200
    ids = created.json()
    assert isinstance(ids, list)
    assert len(ids) == 1
    assert json2(http, v19, "res.partner", "write", {"ids": ids, "vals": {"city": "Lyon"}}).json() is True
    read = json2(http, v19, "res.partner", "read", {"ids": ids, "fields": ["name", "city", "country_id"]}).json()
    assert read == [{"id": ids[0], "name": "Json Two", "city": "Lyon", "country_id": False}]
    rows = json2(http, v19, "res.partner", "search_read",
                 {"domain": [["name", "=", "Json Two"]], "fields": ["name"], "context": {"lang": "en_US"}}).json()
    assert rows == [{"id": ids[0], "name": "Json Two"}]
    assert json2(http, v19, "res.partner", "search_count", {"domain": [["is_company", "=", True]]}).json() == 9
    fields = json2(http, v19, "sale.order", "fields_get", {"attributes": ["type", "selection"]}).json()
    assert fields["state"]["type"] == "selection"
    assert ["sale", "Sales Order"] in fields["state"]["selection"]
    assert fields["partner_id"] == {"type": "many2one"}
    client = client_for(v19)
    assert client.call("res.partner", "search_count", domain=[["id", "in", ids]]) == 1
    assert client.uid() == 2


def test_json2_errors_use_http_statuses_and_odoos_error_object(v19: RunningSandbox, http: httpx.Client) -> None:
    unauthorized = json2_error(json2(http, v19, "res.partner", "search", key="wrong"), 401,
                               "werkzeug.exceptions.Unauthorized")
    assert unauthorized["message"] == "Invalid apikey"
    assert unauthorized["arguments"] == ["Invalid apikey", 401]
    json2_error(json2(http, v19, "res.partner", "search", key=None), 401, "werkzeug.exceptions.Unauthorized")
    json2_error(json2(http, v19, "res.partner", "_private"), 403, "odoo.exceptions.AccessError")
    json2_error(json2(http, v19, "no.such.model", "search"), 404, "werkzeug.exceptions.NotFound")
    json2_error(json2(http, v19, "res.partner", "fly"), 404, "werkzeug.exceptions.NotFound")
    json2_error(json2(http, v19, "res.partner", "search", database="nodb"), 404, "werkzeug.exceptions.NotFound")
    assert http.get(f"{v19.url}/json/2/res.partner/search").status_code == 405
    json2_error(json2(http, v19, "sale.order", "write", {"ids": [1], "vals": {"state": "shipped"}}), 422,
                "odoo.exceptions.ValidationError")
    json2_error(json2(http, v19, "res.partner", "search_read", {"colour": "red"}), 422, "builtins.TypeError")
    json2_error(json2(http, v19, "res.partner", "read", {"ids": [99999]}), 422, "odoo.exceptions.MissingError")
    context = json2_error(json2(http, v19, "res.partner", "read", {"ids": [99999], "context": {"lang": "fr_FR"}}),
                          422, "odoo.exceptions.MissingError")["context"]
    assert context == {"lang": "fr_FR"}
    v19.sandbox.faults.configure({"server_errors": {"sequence": [500, 503]}})
    json2_error(json2(http, v19, "res.partner", "search"), 500, "psycopg2.OperationalError")
    proxy = json2(http, v19, "res.partner", "search")
    assert proxy.status_code == 503
    assert "Service Unavailable" in proxy.text


@pytest.mark.parametrize(
    ("key", "model", "method", "params", "category"),
    [
        ("wrong", "res.partner", "search", {"domain": []}, ErrorCategory.PERMISSION),
        (API_KEY, "res.partner", "_private", {}, ErrorCategory.PERMISSION),
        (API_KEY, "no.such.model", "search", {"domain": []}, ErrorCategory.MAPPING),
        (API_KEY, "sale.order", "write", {"ids": [1], "vals": {"state": "shipped"}}, ErrorCategory.VALIDATION),
        (API_KEY, "res.partner", "read", {"ids": [99999]}, ErrorCategory.MISSING_REFERENCE),
        (API_KEY, "res.partner", "search_read", {"colour": "red"}, ErrorCategory.VALIDATION),
    ],
)
def test_the_client_translates_json2_errors(v19: RunningSandbox, key: str, model: str, method: str,
                                            params: dict[str, Any], category: ErrorCategory) -> None:
    ids = params.pop("ids", None)
    error = refused(lambda: client_for(v19, key).call(model, method, ids=ids, **params))
    assert error.category is category


# -- the ORM ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_domains_in_prefix_notation_with_every_operator(server: RunningSandbox) -> None:
    client = client_for(server)
    ids = client.call("res.partner", "create", vals_list=[
        {"name": "Alpha Widgets", "is_company": True, "ref": "d-1", "credit_limit": 100.0, "city": "Bonn"},
        {"name": "Beta Gadgets", "is_company": True, "ref": "d-2", "credit_limit": 200.0},
        {"name": "gamma widgets", "is_company": True, "ref": "d-3", "credit_limit": 300.0, "active": False},
    ])  # fmt: skip
    alpha, beta, gamma = ids
    client.call("res.partner", "create", vals_list=[{"name": "Ann Alpha", "parent_id": alpha, "ref": "d-4"}])

    def ids_for(domain: list[Any], **options: Any) -> list[int]:
        return list(client.call("res.partner", "search", domain=[["ref", "like", "d-"], *domain], **options))

    assert ids_for([["ref", "=", "d-1"]]) == [alpha]
    assert set(ids_for([["is_company", "=", True], ["ref", "!=", "d-1"]])) == {beta}  # archived left out
    assert set(ids_for([["ref", "in", ["d-1", "d-3"]], ["active", "in", [True, False]]])) == {alpha, gamma}
    assert set(ids_for([["is_company", "=", True], ["ref", "not in", ["d-1"]]], context={"active_test": False})) == {
        beta, gamma}
    assert ids_for([["credit_limit", ">", 100]]) == [beta]
    assert set(ids_for([["credit_limit", ">=", 100], ["is_company", "=", True]])) == {alpha, beta}
    assert ids_for([["credit_limit", "<", 200], ["is_company", "=", True]]) == [alpha]
    assert set(ids_for([["credit_limit", "<=", 300], ["is_company", "=", True]], context={"active_test": False})) == {
        alpha, beta, gamma}
    assert ids_for([["name", "like", "Widgets"]]) == [alpha]  # like is case-sensitive
    assert set(ids_for([["name", "ilike", "widgets"]], context={"active_test": False})) == {alpha, gamma}
    assert set(ids_for([["name", "not ilike", "widgets"], ["is_company", "=", True]])) == {beta}
    assert set(ids_for(["|", ["ref", "=", "d-1"], ["ref", "=", "d-2"]])) == {alpha, beta}
    assert set(ids_for(["!", ["ref", "=", "d-1"], ["is_company", "=", True]])) == {beta}
    assert set(ids_for(["&", ["is_company", "=", True], "|", ["city", "=", "Bonn"], ["credit_limit", "=", 200]])) == {
        alpha, beta}
    assert ids_for([["city", "=", False], ["is_company", "=", True]]) == [beta]
    assert ids_for([["parent_id.ref", "=", "d-1"]]) == [ids_for([["ref", "=", "d-4"]])[0]]
    assert ids_for([["parent_id", "ilike", "alpha"]]) == ids_for([["ref", "=", "d-4"]])
    assert ids_for([["is_company", "=", True]], order="credit_limit desc") == [beta, alpha]
    assert ids_for([["is_company", "=", True]], order="credit_limit asc", limit=1, offset=1) == [beta]
    assert client.call("res.partner", "search_count", domain=[["ref", "like", "d-"]]) == 3
    assert refused(lambda: ids_for([["nope", "=", 1]])).category is ErrorCategory.VALIDATION


@pytest.mark.parametrize("version", [18, 19], ids=lambda v: f"odoo{v}")
def test_create_with_one2many_lines_computes_amounts_and_checks_values(server: RunningSandbox) -> None:
    client = client_for(server)
    partner = client.call("res.partner", "create", vals_list=[{"name": "Lines Ltd", "is_company": True}])[0]
    product = client.call("product.product", "search_read", domain=[["default_code", "=", "SKU-1010"]],
                          fields=["lst_price"])[0]
    order_id = client.call("sale.order", "create", vals_list=[{
        "partner_id": partner, "origin": "sf-opp:lines",
        "order_line": [[0, 0, {"product_id": product["id"], "product_uom_qty": 2, "price_unit": 100.0}],
                       [0, 0, {"product_id": product["id"], "product_uom_qty": 1, "discount": 50.0}]],
    }])[0]  # fmt: skip
    order = client.call("sale.order", "read", ids=[order_id],
                        fields=["name", "state", "amount_total", "order_line", "partner_id", "currency_id"])[0]
    assert order["state"] == "draft"
    assert order["name"].startswith("S")
    assert order["partner_id"] == [partner, "Lines Ltd"]
    assert order["currency_id"][1] == "EUR"
    assert len(order["order_line"]) == 2
    assert order["amount_total"] == 200.0 + product["lst_price"] * 0.5  # the second line's price is the list price
    required = refused(lambda: client.call("sale.order", "create", vals_list=[{"origin": "x"}]))
    assert required.category is ErrorCategory.VALIDATION
    assert "mandatory field" in required.message
    unknown_field = refused(lambda: client.call("res.partner", "create", vals_list=[{"name": "X", "colour": "red"}]))
    assert "Invalid field 'colour'" in unknown_field.message
    dangling = refused(lambda: client.call("sale.order", "create", vals_list=[{"partner_id": 99999}]))
    assert dangling.category is ErrorCategory.VALIDATION
    # a failing call changes nothing: the transaction is rolled back as a whole
    before = client.call("res.partner", "search_count", domain=[])
    refused(lambda: client.call("res.partner", "create", vals_list=[{"name": "Kept?"}, {"name": "X", "type": "bad"}]))
    assert client.call("res.partner", "search_count", domain=[]) == before


def test_write_date_is_the_transactions_start_not_its_commit(v19: RunningSandbox, http: httpx.Client) -> None:
    sandbox = v19.sandbox
    start_at = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    sandbox.clock.set(start_at)
    sandbox.clock.set_pace(0)
    client = client_for(v19)
    slow_id, fast_id = client.call("res.partner", "create", vals_list=[{"name": "Slow"}, {"name": "Fast"}])
    sandbox.faults.configure({"latency_ms": 600})
    slow = threading.Thread(target=client.call, args=("res.partner", "write"),
                            kwargs={"ids": [slow_id], "vals": {"city": "Later"}})
    slow.start()
    time.sleep(0.2)  # the slow call has started its transaction at 09:00:00
    sandbox.faults.configure({"latency_ms": 0})
    assert http.post(f"{v19.url}/__sandbox__/clock/step", json={"seconds": 5}).status_code == 200
    client.call("res.partner", "write", ids=[fast_id], vals={"city": "Sooner"})
    slow.join()
    rows = client.call("res.partner", "read", ids=[slow_id, fast_id], fields=["city", "write_date"])
    assert [r["city"] for r in rows] == ["Later", "Sooner"]
    # committed last, stamped first
    assert [r["write_date"] for r in rows] == ["2026-03-02 09:00:00", "2026-03-02 09:00:05"]


def test_action_confirm_creates_the_outgoing_picking_and_only_confirms_once(v17: RunningSandbox) -> None:
    client = client_for(v17)
    partner = client.call("res.partner", "create", vals_list=[{"name": "Confirm Co", "is_company": True}])[0]
    order_id = client.call("sale.order", "create", vals_list=[{"partner_id": partner, "order_line": [
        [0, 0, {"product_id": 1, "product_uom_qty": 3}]]}])[0]  # fmt: skip
    assert client.call("sale.order", "action_confirm", ids=[order_id]) is True
    order = client.call("sale.order", "read", ids=[order_id],
                        fields=["state", "picking_ids", "delivery_status", "invoice_status", "name"])[0]
    assert (order["state"], order["delivery_status"], order["invoice_status"]) == ("sale", "pending", "no")
    picking = client.call("stock.picking", "read", ids=order["picking_ids"],
                          fields=["state", "origin", "sale_id", "picking_type_code"])[0]
    assert (picking["state"], picking["origin"], picking["sale_id"][0], picking["picking_type_code"]) == (
        "confirmed", order["name"], order_id, "outgoing")
    again = refused(lambda: client.call("sale.order", "action_confirm", ids=[order_id]))
    assert "not in a state requiring confirmation" in again.message


# -- faults ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_server_errors_are_retryable_and_not_applied(server: RunningSandbox) -> None:
    client = client_for(server)
    before = client.call("res.partner", "search_count", domain=[])
    server.sandbox.faults.configure({"server_errors": {"sequence": [502, 504]}})
    for _ in range(2):
        with pytest.raises(RetryableError, match=r"HTTP 50[24]"):
            client.call("res.partner", "create", vals_list=[{"name": "Never"}])
    client.call("res.partner", "create", vals_list=[{"name": "Once"}])
    assert client.call("res.partner", "search_count", domain=[]) == before + 1


@pytest.mark.parametrize("version", [18, 19], ids=lambda v: f"odoo{v}")
def test_a_timeout_after_the_write_was_applied(server: RunningSandbox) -> None:
    client = client_for(server, timeout_seconds=0.3)
    client.version()
    client.uid()
    server.sandbox.faults.configure({"timeout_after_write": {"next": 1, "hold_ms": 800}})
    with pytest.raises(RetryableError, match="timed out"):
        client.call("res.partner", "create", vals_list=[{"name": "Applied anyway", "ref": "t-1"}])
    assert client.call("res.partner", "search_count", domain=[["ref", "=", "t-1"]]) == 1


def test_validation_errors_on_chosen_records(v19: RunningSandbox, http: httpx.Client) -> None:
    client = client_for(v19)
    target = client.call("res.partner", "create", vals_list=[{"name": "Chosen"}])[0]
    answer = http.post(f"{v19.url}/__sandbox__/faults", json={"validation_errors": [
        {"model": "res.partner", "ids": [target], "message": "The VAT number is not valid."},
        {"model": "res.partner", "values": {"ref": "bad-ref"}},
    ]})  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["validation_errors"][0]["ids"] == [target]
    error = refused(lambda: client.call("res.partner", "write", ids=[target], vals={"city": "X"}))
    assert (error.category, "VAT number" in error.message) == (ErrorCategory.VALIDATION, True)
    assert refused(lambda: client.call("res.partner", "create", vals_list=[{"name": "N", "ref": "bad-ref"}]))
    assert client.call("res.partner", "create", vals_list=[{"name": "Fine", "ref": "good-ref"}])


def test_latency_delays_answers(v17: RunningSandbox) -> None:
    client = client_for(v17)
    client.uid()
    v17.sandbox.faults.configure({"latency_ms": 250})
    began = time.monotonic()
    client.call("res.partner", "search_count", domain=[])
    assert time.monotonic() - began >= 0.25


# -- control API -------------------------------------------------------------------------------------------------------


def test_seed_is_deterministic_and_reset_restores_the_start(v19: RunningSandbox, http: httpx.Client) -> None:
    control = f"{v19.url}/__sandbox__"

    def snapshot() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = http.get(f"{control}/records/res.partner").json()["records"]
        return [{k: r[k] for k in ("id", "name", "email", "vat", "country_id")} for r in rows]

    assert http.post(f"{control}/seed", json={"seed": 11, "records": 5}).json()["counts"]["res.partner"] > 5
    first = snapshot()
    http.post(f"{control}/seed", json={"seed": 12, "records": 5})
    assert snapshot() != first
    http.post(f"{control}/seed", json={"seed": 11, "records": 5})
    assert snapshot() == first
    client_for(v19).call("res.partner", "create", vals_list=[{"name": "Extra"}])
    http.post(f"{control}/faults", json={"latency_ms": 5})
    summary = http.post(f"{control}/reset").json()
    assert (summary["seed"], summary["records"], summary["version"], summary["api_key"]) == (3, 8, 19, API_KEY)
    assert http.get(f"{control}/faults").json()["latency_ms"] == 0
    assert http.post(f"{control}/seed", json={"records": -1}).status_code == 400
    assert http.post(f"{control}/faults", json={"colour": 1}).status_code == 400
    assert http.get(f"{control}/records/no.model").status_code == 404


def test_the_request_log_counts_calls_per_endpoint(server: RunningSandbox, http: httpx.Client) -> None:
    control = f"{server.url}/__sandbox__/requests"
    http.delete(control)
    client = client_for(server)
    client.call("res.partner", "search_count", domain=[])
    client.call("res.partner", "search_count", domain=[])
    refused(lambda: client.call("res.partner", "read", ids=[99999]))
    log = http.get(control, params={"limit": 10}).json()
    if client.transport == "json2":
        assert log["counts"] == {"GET /web/version": 1, "POST /json/2/res.partner/read": 1,
                                 "POST /json/2/res.partner/search_count": 2}
    else:
        assert log["counts"] == {"GET /web/version": 1, "POST /jsonrpc common.authenticate": 1,
                                 "POST /jsonrpc object.execute_kw res.partner.read": 1,
                                 "POST /jsonrpc object.execute_kw res.partner.search_count": 2}
    assert log["errors"] == {"odoo.exceptions.MissingError": 1}
    assert log["total"] == len(log["requests"]) == client.api_calls
    assert http.delete(control).status_code == 204
    assert http.get(control).json()["total"] == 0


def test_the_clock_steps_and_paces_through_the_control_api(v19: RunningSandbox, http: httpx.Client) -> None:
    control = f"{v19.url}/__sandbox__/clock"
    paced = http.post(f"{control}/pace", json={"pace": 0}).json()
    assert paced["pace"] == 0
    before = datetime.fromisoformat(http.get(control).json()["now"])
    time.sleep(0.05)
    assert datetime.fromisoformat(http.get(control).json()["now"]) == before  # stopped
    stepped = http.post(f"{control}/step", json={"days": 1, "hours": 2}).json()
    assert datetime.fromisoformat(stepped["now"]) == before + timedelta(days=1, hours=2)
    assert stepped["today"] == (before + timedelta(days=1, hours=2)).date().isoformat()
    assert http.post(f"{control}/step", json={"days": -1}).status_code == 400
    assert http.post(f"{control}/pace", json={"pace": -2}).status_code == 400
    payers = f"{v19.url}/__sandbox__/payers"
    assert http.post(payers, json={"partner_id": 5, "behaviour": "late"}).json() == {"5": "late"}
    assert http.post(payers, json={"partner_id": 5, "behaviour": "sometimes"}).status_code == 400


# -- the business clock ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_the_business_clock_delivers_invoices_and_collects(server: RunningSandbox, http: httpx.Client) -> None:
    sandbox: OdooSandbox = server.sandbox
    sandbox.clock.set_pace(0)
    client = client_for(server)
    term = client.call("account.payment.term", "search_read", domain=[["name", "=", "45 Days"]], fields=["id"])[0]
    customers = client.call("res.partner", "create", vals_list=[
        {"name": f"Payer {habit}", "is_company": True, "property_payment_term_id": term["id"]}
        for habit in ("on_time", "partial", "never")
    ])  # fmt: skip
    orders = {}
    for habit, customer in zip(("on_time", "partial", "never"), customers, strict=True):
        http.post(f"{server.url}/__sandbox__/payers", json={"partner_id": customer, "behaviour": habit})
        order = client.call("sale.order", "create", vals_list=[{"partner_id": customer, "order_line": [
            [0, 0, {"product_id": 2, "product_uom_qty": 4, "price_unit": 250.0}]]}])[0]  # fmt: skip
        client.call("sale.order", "action_confirm", ids=[order])
        orders[habit] = order
    confirmed_on = sandbox.clock.now().date()

    def state(habit: str) -> dict[str, Any]:
        order = client.call("sale.order", "read", ids=[orders[habit]],
                            fields=["delivery_status", "invoice_status", "picking_ids", "invoice_ids"])[0]
        picking = client.call("stock.picking", "read", ids=order["picking_ids"], fields=["state"])[0]
        invoices = client.call("account.move", "read", ids=order["invoice_ids"], fields=[
            "state", "payment_state", "amount_residual", "invoice_date", "invoice_date_due", "invoice_origin"])
        return {"order": order, "picking": picking["state"], "invoice": invoices[0] if invoices else None}

    applied = http.post(f"{server.url}/__sandbox__/clock/step", json={"hours": 13}).json()["applied"]
    assert {e["kind"] for e in applied} == {"reserve"}
    assert state("partial")["picking"] == "assigned"
    http.post(f"{server.url}/__sandbox__/clock/step", json={"days": 4})
    delivered = state("partial")
    assert delivered["picking"] == "done"
    assert (delivered["order"]["delivery_status"], delivered["order"]["invoice_status"]) == ("full", "invoiced")
    invoice = delivered["invoice"]
    assert (invoice["state"], invoice["payment_state"], invoice["amount_residual"]) == ("posted", "not_paid", 1000.0)
    invoiced_on = date.fromisoformat(invoice["invoice_date"])
    assert confirmed_on < invoiced_on <= confirmed_on + timedelta(days=4)
    assert invoice["invoice_date_due"] == (invoiced_on + timedelta(days=45)).isoformat()  # the partner's term
    http.post(f"{server.url}/__sandbox__/clock/step", json={"days": 46})
    after_due = {habit: state(habit)["invoice"] for habit in orders}
    assert after_due["on_time"]["payment_state"] == "paid"
    assert after_due["partial"]["payment_state"] == "partial"
    assert 0 < after_due["partial"]["amount_residual"] < 1000.0
    assert after_due["never"]["payment_state"] == "not_paid"
    overdue = client.call("account.move", "search_read", fields=["invoice_origin"], domain=[
        ["state", "=", "posted"], ["payment_state", "in", ["not_paid", "partial"]],
        ["invoice_date_due", "<", sandbox.clock.now().date().isoformat()], ["partner_id", "in", customers]])
    assert len(overdue) == 2
    http.post(f"{server.url}/__sandbox__/clock/step", json={"days": 40})
    assert state("partial")["invoice"]["payment_state"] == "paid"  # the rest, late
    assert state("never")["invoice"]["payment_state"] == "not_paid"
    payments = client.call("account.payment", "search_read", domain=[["partner_id", "=", customers[1]]],
                           fields=["amount", "state", "reconciled_invoice_ids"], order="id asc")
    assert [p["state"] for p in payments] == ["posted", "posted"]
    assert sum(p["amount"] for p in payments) == 1000.0
    assert payments[0]["reconciled_invoice_ids"] == [invoice["id"]]


def test_seeded_history_has_every_stage_including_overdue(v19: RunningSandbox) -> None:
    client = client_for(v19)
    states = {r["state"] for r in client.call("sale.order", "search_read", domain=[], fields=["state"])}
    assert {"sale", "draft"} <= states
    pickings = {r["state"] for r in client.call("stock.picking", "search_read", domain=[], fields=["state"])}
    assert "done" in pickings
    today = v19.sandbox.clock.now().date().isoformat()
    overdue = client.call("account.move", "search_count", domain=[
        ["state", "=", "posted"], ["payment_state", "in", ["not_paid", "partial"]], ["invoice_date_due", "<", today]])
    paid = client.call("account.move", "search_count", domain=[["payment_state", "=", "paid"]])
    assert overdue >= 1
    assert paid >= 1
