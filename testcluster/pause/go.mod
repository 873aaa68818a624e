module todo-runbook/testcluster/pause

go 1.22
