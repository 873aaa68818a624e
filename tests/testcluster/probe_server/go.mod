module todo-runbook/tests/testcluster/probe_server

go 1.22
