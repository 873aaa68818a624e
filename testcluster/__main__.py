"""CLI: python -m testcluster build [names...] | up [--simulated-nodes N] [--real-nodes 1|2] [--no-node] | down | status
| registry up|down|status [--auth] [--port N] [--name NAME]."""

from __future__ import annotations

import argparse
import json
import sys

from testcluster.build import build
from testcluster.catalog import all_components, select
from testcluster.errors import TestbedError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testcluster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build the pinned tools into the cache (skips what is built)")
    p_build.add_argument("names", nargs="*", help="components or binaries (default: all)")
    p_build.add_argument("--force", action="store_true", help="rebuild even when the marker says built")
    p_build.add_argument("--list", action="store_true", help="list the components and exit")
    p_up = sub.add_parser("up", help="start the test bed on loopback (idempotent)")
    p_up.add_argument("--simulated-nodes", type=int, default=None, help="kwok nodes (default 2)")
    p_up.add_argument("--real-nodes", type=int, default=None, choices=(1, 2),
                      help="real nodes: 2 adds a second kubelet + containerd here (default: as running, else 1)")
    p_up.add_argument("--no-node", action="store_true", help="control plane and simulated nodes only")
    sub.add_parser("down", help="stop every process the test bed started and remove its run state")
    p_status = sub.add_parser("status", help="what runs, by pid, and whether /readyz answers")
    p_status.add_argument("--json", action="store_true")
    p_registry = sub.add_parser("registry", help="the test bed's registry (Distribution, TLS on loopback)")
    p_registry.add_argument("action", choices=("up", "down", "status"))
    p_registry.add_argument("--name", default="registry", help="instance name (own folder, storage, pidfile)")
    p_registry.add_argument("--port", type=int, default=5443)
    p_registry.add_argument("--auth", action="store_true", help="basic auth with a generated password")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            components = select(all_components(), args.names)
            if args.list:
                for c in components:
                    version = getattr(c, "version", "script")
                    print(f"{c.name:<20} {version:<10} {getattr(c, 'description', '')}")
                return 0
            build(components, force=args.force)
            return 0
        if args.command == "registry":
            return registry_command(args)
        from testcluster import controlplane

        if args.command == "up":
            info = controlplane.up(simulated_nodes=args.simulated_nodes, node=not args.no_node,
                                   real_nodes=args.real_nodes)
            print(f"up: kubeconfig {info.kubeconfig} (context {info.context}); nodes: {', '.join(info.nodes)}")
            print(f"    export KUBECONFIG={info.kubeconfig}; kubectl --context {info.context} get nodes")
            return 0
        if args.command == "down":
            controlplane.down()
            return 0
        if args.command == "status":
            report = controlplane.status()
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                print(controlplane.format_status(report))
            return 0 if report.get("ready") else 3
    except TestbedError as error:  # BuildError, MissingBinaryError, ProcessError, ... (known problems)
        print(f"testcluster {args.command}: {error}", file=sys.stderr)
        return 1
    return 2


def registry_command(args: argparse.Namespace) -> int:
    from testcluster import registry

    if args.action == "up":
        info = registry.up(name=args.name, port=args.port, auth=args.auth)
        print(f"registry {info.name}: https://{info.address} (pid {info.pid}, CA {info.ca}, log {info.log})")
        print(f"    runbook: PARAMS=\"registry={info.address}/todo\"")
        if info.credentials_file:
            print(f"    credentials (user {registry.USERNAME}) in {info.credentials_file}: export them as "
                  "TODO_RUNBOOK_REGISTRY_USERNAME and TODO_RUNBOOK_REGISTRY_PASSWORD")
    elif args.action == "down":
        print(f"registry {args.name}: {'stopped' if registry.down(name=args.name) else 'was not running'}")
    else:
        print(json.dumps(registry.status(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
