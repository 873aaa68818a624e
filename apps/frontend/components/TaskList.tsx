"use client";

import { useCallback, useEffect, useState } from "react";
import { ApiError, type ApiClient, type Task } from "@/lib/api";

export function TaskList({ api, version }: { api: ApiClient; version: number }) {
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busyId, setBusyId] = useState<number | null>(null);

  const load = useCallback(async () => {
    try {
      setTasks(await api.listTasks());
      setError(null);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : String(caught));
    }
  }, [api]);

  // Reload on mount and whenever the chat reports a finished turn (version bumps).
  useEffect(() => {
    void load();
  }, [load, version]);

  // Changes made elsewhere (another tab, an outside MCP client) show up when the user comes back.
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === "visible") void load();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, [load]);

  async function act(taskId: number, action: () => Promise<unknown>) {
    setBusyId(taskId);
    try {
      await action();
      await load();
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : String(caught));
    } finally {
      setBusyId(null);
    }
  }

  return (
    <section className="panel" aria-label="Tasks" data-testid="task-panel">
      <h2>
        Tasks
        <button type="button" className="secondary" onClick={() => void load()} data-testid="tasks-refresh">
          Refresh
        </button>
      </h2>
      {error && (
        <p className="error" role="alert" data-testid="tasks-error">
          {error}
        </p>
      )}
      {tasks === null && !error && <p className="notice">Loading tasks…</p>}
      {tasks !== null && tasks.length === 0 && (
        <p className="empty" data-testid="tasks-empty">
          No tasks yet. Ask the assistant to add one.
        </p>
      )}
      {tasks !== null && tasks.length > 0 && (
        <ul className="tasks" data-testid="task-list">
          {tasks.map((task) => (
            <li
              key={task.id}
              className={`task${task.completed ? " done" : ""}`}
              data-testid="task-item"
              data-task-id={task.id}
              data-completed={task.completed ? "true" : "false"}
            >
              <input
                type="checkbox"
                checked={task.completed}
                disabled={busyId === task.id}
                aria-label={task.completed ? `Mark "${task.title}" not done` : `Mark "${task.title}" done`}
                onChange={() => void act(task.id, () => api.setCompleted(task.id, !task.completed))}
                data-testid="task-toggle"
              />
              <span className="id">#{task.id}</span>
              <span className="title" data-testid="task-title">
                {task.title}
                {task.due_date && <span className="due"> · due {task.due_date}</span>}
              </span>
              <button
                type="button"
                className="danger"
                disabled={busyId === task.id}
                aria-label={`Delete "${task.title}"`}
                onClick={() => void act(task.id, () => api.deleteTask(task.id))}
                data-testid="task-delete"
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
