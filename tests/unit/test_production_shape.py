"""The production shape cannot rot silently.

docker-compose.yml, the gateway config (deploy/nginx/cairn.conf), the image
(deploy/Dockerfile) and the Kubernetes manifests (deploy/k8s) are never run by the
test suite (no Docker engine in CI), so this test holds them to each other, to the
services in services/ and to shared.settings.ServiceSettings: a misspelt environment
variable, a port that drifted, a missing process or a dependency cycle fails here.
"""

from __future__ import annotations

import importlib
import json
import re
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from shared.messaging.bus import TOPICS
from shared.runtime import ensure_topics
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
GATEWAY_CONF = ROOT / "deploy" / "nginx" / "cairn.conf"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S_DIR = ROOT / "deploy" / "k8s"

SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))

# Services with consumer code (projections fed from other services' topics), which need a
# `<svc>-consumer` process. Hardcoded on purpose (catalogue only publishes) so that the
# deployment files change deliberately; test_consumers_match_the_code keeps it honest.
CONSUMING_SERVICES = {"ledger", "transfer", "award"}

ROLES = ("migrate", "api", "relay", "consumer")

# Environment names a Cairn container may carry that are not ServiceSettings fields.
# Empty on purpose: anything else is most likely a misspelt setting that would be ignored.
EXTRA_CAIRN_ENV: set[str] = set()

SETTINGS_ENV = {
    (field.alias or name).upper() for name, field in ServiceSettings.model_fields.items()
}
REQUIRED_ENV = {"CAIRN_MODE", "CAIRN_AUTH_SECRET", "DATABASE_URL", "CAIRN_BUS",
                "KAFKA_BOOTSTRAP_SERVERS"}

# What an operator exports before `docker compose up`.
HOST_ENV = {"CAIRN_AUTH_SECRET": "test-secret-" + "x" * 40}


# ------------------------------------------------------------------------------ helpers

_VAR = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def interpolate(value: object, host_env: dict[str, str] = HOST_ENV) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and $$."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m["name"], m["op"], m["arg"]
        value = host_env.get(name)
        if op in (":?", "?"):
            if not value:
                raise LookupError(f"required variable {name} is missing a value: {arg}")
            return value
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":+", "+"):
            return arg if value else ""
        return value or ""

    return _VAR.sub(sub, "" if value is None else str(value))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def image_repo(image: str) -> str:
    """registry.example.org/cairn/cairn:0.1.0 -> cairn"""
    return image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]


def expected_cairn_containers() -> set[str]:
    names = {"topics"}
    for svc in SERVICES:
        names |= {f"{svc}-migrate", f"{svc}-api", f"{svc}-relay"}
        if svc in CONSUMING_SERVICES:
            names.add(f"{svc}-consumer")
    return names


def split_name(name: str) -> tuple[str, str]:
    svc, _, role = name.rpartition("-")
    return svc, role


def load_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    for name in SETTINGS_ENV:  # only the file's values count, not the test runner's
        monkeypatch.delenv(name, raising=False)
    return ServiceSettings(**env)


Upstreams = dict[str, list[tuple[str, int]]]  # upstream -> [(host, port)]
Locations = dict[str, tuple[str, str]]  # location prefix -> (upstream, URI part of proxy_pass)


def parse_gateway() -> tuple[Upstreams, Locations, set[int]]:
    """The gateway's upstreams, proxied locations and listen ports."""
    text = re.sub(r"#[^\n]*", "", GATEWAY_CONF.read_text())
    upstreams = {
        name: [(h, int(p)) for h, p in re.findall(r"\bserver\s+([\w.-]+):(\d+)", body)]
        for name, body in re.findall(r"\bupstream\s+([\w-]+)\s*\{(.*?)\}", text, re.DOTALL)
    }
    locations = {}
    for prefix, body in re.findall(r"\blocation\s+(/[^\s{]*)\s*\{(.*?)\}", text, re.DOTALL):
        if m := re.search(r"\bproxy_pass\s+http://([\w-]+)(/[^;\s]*)?\s*;", body):
            locations[prefix] = (m[1], m[2] or "")
    listen = {int(p) for p in re.findall(r"\blisten\s+(?:[\d.]+:)?(\d+)", text)}
    return upstreams, locations, listen


# ------------------------------------------------------------------------------ compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def cairn(services: dict[str, dict]) -> dict[str, dict]:
    """Every container that runs the Cairn image (built from deploy/Dockerfile)."""
    built = {s["image"] for s in services.values()
             if (s.get("build") or {}).get("dockerfile") == "deploy/Dockerfile"}
    assert len(built) == 1, f"one image for all Cairn containers, found {built}"
    return {name: s for name, s in services.items() if s.get("image") in built}


def test_the_services_are_found() -> None:
    assert SERVICES, "no services/*/pyproject.toml found"
    assert set(SERVICES) >= CONSUMING_SERVICES
    # Each topic is `<owner>.events`, owned by one of the services.
    assert {t.removesuffix(".events") for t in TOPICS} <= set(SERVICES), TOPICS


@pytest.mark.parametrize("svc", SERVICES)
def test_consumers_match_the_code(svc: str) -> None:
    projections = importlib.import_module(f"{svc}.bootstrap").definition().projections()
    assert bool(projections) == (svc in CONSUMING_SERVICES), (
        f"{svc} has projections {[p.name for p in projections]}: update CONSUMING_SERVICES "
        "and give it (or take away) a <svc>-consumer in docker-compose.yml and deploy/k8s"
    )


async def test_the_topics_command_creates_every_declared_topic() -> None:
    class RecordingBus:
        def __init__(self) -> None:
            self.created: set[str] = set()

        async def ensure_topics(self, topics, partitions, replication=1) -> None:
            self.created |= set(topics)

    bus = RecordingBus()
    await ensure_topics(bus, ServiceSettings())
    assert bus.created == set(TOPICS)


def test_every_service_runs_its_processes(cairn: dict[str, dict]) -> None:
    missing = expected_cairn_containers() - set(cairn)
    unexpected = set(cairn) - expected_cairn_containers()
    assert not missing, f"docker-compose.yml lacks {sorted(missing)}"
    assert not unexpected, f"unexpected Cairn containers {sorted(unexpected)}"


def test_commands_are_service_and_role(cairn: dict[str, dict]) -> None:
    for name, service in cairn.items():
        if name == "topics":
            continue  # test_the_topics_step_runs_after_kafka
        svc, role = split_name(name)
        assert svc in SERVICES and role in ROLES, name
        assert service.get("command") == [svc, role], f"{name}: command {service.get('command')}"
        assert "entrypoint" not in service, f"{name} must keep the image's `python -m` entrypoint"


def test_the_image_runs_python_modules_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.MULTILINE)[-1])
    assert entrypoint[-2:] == ["python", "-m"], entrypoint
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)[-1]
    assert user.split(":")[0] not in ("root", "0"), user
    assert re.search(r"^HEALTHCHECK\b.*?/health", text, re.MULTILINE | re.DOTALL)
    default_services = re.search(r'^ARG SERVICES="([^"]*)"', text, re.MULTILINE)[1].split()
    for svc in SERVICES:
        assert svc in default_services, f"deploy/Dockerfile does not install {svc}"
        assert f"COPY services/{svc}/pyproject.toml" in text, svc


def test_environment_names_are_settings(cairn: dict[str, dict]) -> None:
    for name, service in cairn.items():
        unknown = set(environment(service)) - SETTINGS_ENV - EXTRA_CAIRN_ENV
        assert not unknown, f"{name}: {sorted(unknown)} are not ServiceSettings aliases"
        assert set(environment(service)) >= REQUIRED_ENV, name


def test_environment_values_are_valid_settings(
    cairn: dict[str, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in cairn.items():
        raw = environment(service)
        assert raw["CAIRN_AUTH_SECRET"].startswith("${CAIRN_AUTH_SECRET:?"), (
            f"{name}: the auth secret must be required from the host, never defaulted"
        )
        with pytest.raises(LookupError):
            interpolate(raw["CAIRN_AUTH_SECRET"], host_env={})
        env = {k: interpolate(v) for k, v in raw.items()}
        settings = load_settings(env, monkeypatch)
        assert settings.mode == "production", name
        assert settings.bus == "kafka", name
        svc = service["command"][0] if name == "topics" else split_name(name)[0]
        if "CAIRN_SERVICE" in env or name != "topics":
            assert settings.service_name == svc, name


def test_api_ports_match_the_healthcheck_and_the_gateway(services: dict[str, dict]) -> None:
    upstreams, locations, _ = parse_gateway()
    for svc in SERVICES:
        api = services[f"{svc}-api"]
        port = int(environment(api)["CAIRN_PORT"])
        probe = " ".join(api["healthcheck"]["test"])
        probed = re.findall(r"http://(?:127\.0\.0\.1|localhost):(\d+)/health\b", probe)
        assert probed == [str(port)], f"{svc}-api healthcheck {probe!r} misses CAIRN_PORT {port}"
        assert f"/{svc}/" in locations, f"the gateway does not route /{svc}/"
        upstream, uri = locations[f"/{svc}/"]
        assert uri == "/", f"/{svc}/ must proxy_pass to http://{upstream}/ to strip the prefix"
        assert upstreams.get(upstream) == [(f"{svc}-api", port)], (
            f"gateway upstream {upstream} {upstreams.get(upstream)} != {svc}-api:{port}"
        )
        # The gateway strips /<svc>; the api must know it to point /docs at the public URL.
        assert environment(api).get("CAIRN_ROOT_PATH") == f"/{svc}", f"{svc}-api root path"


def test_the_gateway_routes_only_to_compose_services(services: dict[str, dict]) -> None:
    upstreams, locations, listen = parse_gateway()
    for upstream, servers in upstreams.items():
        for host, _ in servers:
            assert host in services, f"gateway upstream {upstream} points at unknown {host}"
    assert {u for u, _ in locations.values()} <= set(upstreams)
    gateway = services["gateway"]
    assert any(v.startswith("./deploy/nginx/cairn.conf:") for v in gateway["volumes"])
    published = {int(str(p).split(":")[-1].split("/")[0]) for p in gateway["ports"]}
    assert published and published <= listen, f"gateway publishes {published}, listens {listen}"
    assert set(depends_on(gateway)) >= {f"{svc}-api" for svc in SERVICES}


def test_the_start_order_is_acyclic_and_complete(services: dict[str, dict]) -> None:
    graph = {name: set(depends_on(s)) for name, s in services.items()}
    for name, deps in graph.items():
        assert deps <= set(services), f"{name} depends on unknown {deps - set(services)}"
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        pytest.fail(f"depends_on cycle: {cycle.args[1]}")
    for service in services.values():
        for dep, condition in depends_on(service).items():
            if condition == "service_healthy":
                check = services[dep].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), f"{dep} has no healthcheck"


@pytest.mark.parametrize("svc", SERVICES)
def test_processes_wait_for_migrations_and_topics(svc: str, services: dict[str, dict]) -> None:
    migrate = depends_on(services[f"{svc}-migrate"])
    postgres = [n for n, s in services.items() if s.get("image", "").startswith("postgres:")]
    assert any(migrate.get(p) == "service_healthy" for p in postgres), migrate
    roles = ["api", "relay"] + (["consumer"] if svc in CONSUMING_SERVICES else [])
    for role in roles:
        deps = depends_on(services[f"{svc}-{role}"])
        assert deps.get(f"{svc}-migrate") == "service_completed_successfully", f"{svc}-{role}"
        assert deps.get("topics") == "service_completed_successfully", f"{svc}-{role}"
    assert int(services[f"{svc}-api"]["deploy"]["replicas"]) >= 2
    # One relay per service: the outbox is published in order by a single process.
    assert int((services[f"{svc}-relay"].get("deploy") or {}).get("replicas", 1)) == 1


def test_the_topics_step_runs_after_kafka(services: dict[str, dict]) -> None:
    # `python -m <any service> topics` creates every declared topic (see
    # test_the_topics_command_creates_every_declared_topic).
    topics = services["topics"]
    assert len(topics["command"]) == 2 and topics["command"][1] == "topics", topics["command"]
    assert topics["command"][0] in SERVICES, topics["command"]
    assert "entrypoint" not in topics
    kafka = [n for n, s in services.items() if s.get("image", "").startswith("apache/kafka:")]
    assert any(depends_on(topics).get(k) == "service_healthy" for k in kafka)


def test_database_url_points_at_the_postgres_service(
    services: dict[str, dict], cairn: dict[str, dict]
) -> None:
    for name, service in cairn.items():
        url = urlsplit(interpolate(environment(service)["DATABASE_URL"]))
        assert url.scheme == "postgresql+asyncpg", f"{name}: {url.scheme}"
        assert url.hostname in services, f"{name}: DATABASE_URL host {url.hostname} is no service"
        postgres = services[url.hostname]
        major = re.match(r"postgres:(\d+)", postgres["image"])
        assert major and int(major[1]) >= 16, f"{url.hostname}: {postgres['image']}"
        pg_env = {k: interpolate(v) for k, v in environment(postgres).items()}
        assert (url.port or 5432) == 5432
        assert url.username == pg_env["POSTGRES_USER"], name
        assert url.password == pg_env["POSTGRES_PASSWORD"], name
        assert url.path.lstrip("/") == pg_env.get("POSTGRES_DB", pg_env["POSTGRES_USER"]), name


def test_kafka_bootstrap_points_at_the_kraft_broker(
    services: dict[str, dict], cairn: dict[str, dict]
) -> None:
    for name, service in cairn.items():
        for server in environment(service)["KAFKA_BOOTSTRAP_SERVERS"].split(","):
            host = server.strip().split(":")[0]
            assert host in services, f"{name}: bootstrap host {host} is no service"
            kafka = services[host]
            assert kafka["image"] == "apache/kafka:4.1.1"
            kafka_env = environment(kafka)
            assert set(kafka_env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
            assert f"//{server.strip()}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"], name


# ------------------------------------------------------------------------------ kubernetes


@pytest.fixture(scope="module")
def k8s_files() -> dict[str, list[dict]]:
    files = {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d]
             for p in sorted(K8S_DIR.glob("*.yaml"))}
    for name, docs in files.items():
        if name == "kustomization.yaml":
            continue
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{name}: {doc}"
            assert doc["metadata"].get("name"), f"{name}: unnamed {doc['kind']}"
    return files


@pytest.fixture(scope="module")
def kustomization(k8s_files: dict[str, list[dict]]) -> dict:
    return k8s_files["kustomization.yaml"][0]


@pytest.fixture(scope="module")
def k8s(k8s_files: dict[str, list[dict]], kustomization: dict) -> dict[tuple[str, str], dict]:
    """(kind, name) -> object, for the resources the kustomization applies."""
    objects = {}
    for file in kustomization["resources"]:
        for doc in k8s_files[file]:
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, f"duplicate {key}"
            objects[key] = doc
    return objects


@pytest.fixture(scope="module")
def k8s_env_sources(k8s: dict, k8s_files: dict[str, list[dict]]) -> dict[str, dict[str, str]]:
    """Names usable in envFrom: the ConfigMaps applied, plus the Secret template."""
    sources = {f"configmap/{name}": doc.get("data", {})
               for (kind, name), doc in k8s.items() if kind == "ConfigMap"}
    for docs in (d for f, d in k8s_files.items() if f.endswith(".example.yaml")):
        for doc in docs:
            if doc["kind"] == "Secret":
                sources[f"secret/{doc['metadata']['name']}"] = doc.get("stringData", {})
    return sources


def pod_spec(workload: dict) -> dict:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def container_env(container: dict, sources: dict[str, dict[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        if "configMapRef" in ref:
            key = f"configmap/{ref['configMapRef']['name']}"
        else:
            key = f"secret/{ref['secretRef']['name']}"
        assert key in sources, f"envFrom {key} is not defined in deploy/k8s"
        env |= {k: str(v) for k, v in sources[key].items()}
    env |= {e["name"]: str(e.get("value", "<from a reference>")) for e in container.get("env", [])}
    return env


WORKLOADS = ("Deployment", "Job", "CronJob")


def test_scheduled_jobs_run_a_command_of_their_service(k8s: dict) -> None:
    """A CronJob (the ledger's nightly chain verification) runs `python -m <svc> <cmd>`
    with a command that service has (ServiceDefinition.commands), as its own service, and
    the volumes it mounts are claimed in deploy/k8s."""
    scheduled = {name: doc for (kind, name), doc in k8s.items() if kind == "CronJob"}
    assert "ledger-verify" in scheduled
    for name, doc in scheduled.items():
        (container,) = pod_spec(doc)["containers"]
        svc, command, *_ = container["args"]
        assert command in importlib.import_module(f"{svc}.bootstrap").definition().commands, name
        assert {"name": "CAIRN_SERVICE", "value": svc} in container["env"], name
        assert doc["spec"]["concurrencyPolicy"] == "Forbid", name
        volumes = {v["name"]: v for v in pod_spec(doc)["volumes"]}
        for mount in container["volumeMounts"]:
            claim = volumes[mount["name"]].get("persistentVolumeClaim")
            if claim is not None:
                assert ("PersistentVolumeClaim", claim["claimName"]) in k8s, name


def test_kustomization_lists_every_manifest(kustomization: dict, k8s_files: dict) -> None:
    manifests = {
        f for f in k8s_files if f != "kustomization.yaml" and not f.endswith(".example.yaml")
    }
    assert set(kustomization["resources"]) == manifests
    namespaces = [d for docs in k8s_files.values() for d in docs if d["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [kustomization["namespace"]]


def test_every_k8s_container_runs_the_compose_image(
    k8s: dict, kustomization: dict, cairn: dict[str, dict]
) -> None:
    compose_repo = {image_repo(interpolate(s["image"])) for s in cairn.values()}
    images = {i["name"] for i in kustomization["images"]}
    assert {image_repo(i["newName"]) for i in kustomization["images"]} == compose_repo
    for (kind, name), doc in k8s.items():
        if kind in WORKLOADS:
            for container in pod_spec(doc)["containers"]:
                assert container["image"] in images, f"{kind}/{name}: {container['image']}"


def test_k8s_environment_names_and_values_are_settings(
    k8s: dict, k8s_env_sources: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for (kind, name), doc in k8s.items():
        if kind not in WORKLOADS:
            continue
        for container in pod_spec(doc)["containers"]:
            env = container_env(container, k8s_env_sources)
            unknown = set(env) - SETTINGS_ENV - EXTRA_CAIRN_ENV
            assert not unknown, f"{kind}/{name}: {sorted(unknown)} are not ServiceSettings aliases"
            assert set(env) >= REQUIRED_ENV, f"{kind}/{name}"
            settings = load_settings(env | {"CAIRN_AUTH_SECRET": HOST_ENV["CAIRN_AUTH_SECRET"]},
                                     monkeypatch)
            assert (settings.mode, settings.bus) == ("production", "kafka"), f"{kind}/{name}"


@pytest.mark.parametrize("svc", SERVICES)
def test_k8s_runs_each_process_like_compose(
    svc: str, k8s: dict, k8s_env_sources: dict, services: dict[str, dict]
) -> None:
    roles = {"api": "Deployment", "relay": "Deployment", "migrate": "Job"}
    if svc in CONSUMING_SERVICES:
        roles["consumer"] = "Deployment"
    else:
        assert ("Deployment", f"{svc}-consumer") not in k8s
    for role, kind in roles.items():
        doc = k8s.get((kind, f"{svc}-{role}"))
        assert doc, f"deploy/k8s lacks {kind} {svc}-{role}"
        (container,) = pod_spec(doc)["containers"]
        assert container.get("args") == [svc, role] and "command" not in container, f"{svc}-{role}"
        env = container_env(container, k8s_env_sources)
        assert env.get("CAIRN_SERVICE") == svc, f"{svc}-{role}"
        compose_env = set(environment(services[f"{svc}-{role}"]))
        assert compose_env <= set(env), f"{svc}-{role} lacks {sorted(compose_env - set(env))}"
    relay = k8s[("Deployment", f"{svc}-relay")]["spec"]
    assert relay["replicas"] == 1 and relay["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("svc", SERVICES)
def test_k8s_api_ports_probes_service_and_scaling(
    svc: str, k8s: dict, k8s_env_sources: dict, services: dict[str, dict]
) -> None:
    port = int(environment(services[f"{svc}-api"])["CAIRN_PORT"])
    api = k8s[("Deployment", f"{svc}-api")]
    (container,) = pod_spec(api)["containers"]
    assert int(container_env(container, k8s_env_sources)["CAIRN_PORT"]) == port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port}, ports
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        get = container[probe]["httpGet"]
        assert get["path"] == path and get["port"] in ("http", port), f"{svc}-api {probe}"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert api["spec"]["replicas"] >= 2

    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    service = k8s[("Service", f"{svc}-api")]["spec"]
    assert service["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["ports"]] in (["http"], [port])

    hpa = k8s[("HorizontalPodAutoscaler", f"{svc}-api")]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", f"{svc}-api")
    assert hpa["minReplicas"] >= 2
    pdb = k8s[("PodDisruptionBudget", f"{svc}-api")]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("svc", SERVICES)
def test_relays_and_consumers_serve_metrics_where_prometheus_looks(
    svc: str, k8s: dict, k8s_env_sources: dict, services: dict[str, dict]
) -> None:
    """A relay or consumer has no API: it serves /metrics on CAIRN_METRICS_PORT (relay
    backlog, consumer lag), which its pod declares and annotates for scraping, and
    compose sets as well."""
    roles = ["relay", "consumer"] if svc in CONSUMING_SERVICES else ["relay"]
    for role in roles:
        doc = k8s[("Deployment", f"{svc}-{role}")]
        (container,) = pod_spec(doc)["containers"]
        port = int(container_env(container, k8s_env_sources).get("CAIRN_METRICS_PORT", 0))
        assert port, f"{svc}-{role}: CAIRN_METRICS_PORT is not set: its metrics are not served"
        assert {p["name"]: p["containerPort"] for p in container.get("ports", [])} == {
            "metrics": port}, f"{svc}-{role}"
        annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
        assert (annotations.get("prometheus.io/scrape"), annotations.get("prometheus.io/port"),
                annotations.get("prometheus.io/path")) == ("true", str(port), "/metrics"), \
            f"{svc}-{role}"
        assert int(environment(services[f"{svc}-{role}"]).get("CAIRN_METRICS_PORT", 0)) == port


def test_k8s_topics_job_runs_the_topics_command(k8s: dict) -> None:
    (container,) = pod_spec(k8s[("Job", "topics")])["containers"]
    args = container.get("args", [])
    assert len(args) == 2 and args[0] in SERVICES and args[1] == "topics", args
    assert "command" not in container


def test_ingress_routes_the_four_prefixes(k8s: dict) -> None:
    (ingress,) = [doc for (kind, _), doc in k8s.items() if kind == "Ingress"]
    rewrite = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"]
    routes = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            prefix = re.match(r"/(\w+)", path["path"])[1]
            routes[prefix] = path["backend"]["service"]
            # The rewrite keeps only what follows the prefix: /ledger/v1/x -> /v1/x.
            for public, internal in ((f"/{prefix}/v1/x", "/v1/x"), (f"/{prefix}", "/")):
                match = re.fullmatch(path["path"], public)
                rewritten = match.expand(rewrite.replace("$", "\\")) if match else None
                assert rewritten == internal, f"{path['path']} rewrites {public} to {rewritten}"
    assert set(routes) == set(SERVICES)
    for svc, backend in routes.items():
        assert backend["name"] == f"{svc}-api"
        wanted = backend["port"]
        service_ports = k8s[("Service", f"{svc}-api")]["spec"]["ports"]
        if "name" in wanted:
            found = any(p.get("name") == wanted["name"] for p in service_ports)
        else:
            found = any(p["port"] == wanted["number"] for p in service_ports)
        assert found, f"{svc}: ingress port {wanted} is not on Service {svc}-api"
