"use client";

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiClient } from "@/lib/api";
import { clearSession, type KeyValueStorage, loadSession, saveSession, type Session } from "@/lib/auth";
import { AuthForm } from "./AuthForm";
import { ChatPanel } from "./ChatPanel";
import { TaskList } from "./TaskList";

/** localStorage when the browser allows it, else a per-tab memory store (private modes may refuse). */
function browserStorage(): KeyValueStorage {
  try {
    const probe = "todo-runbook.probe";
    window.localStorage.setItem(probe, "1");
    window.localStorage.removeItem(probe);
    return window.localStorage;
  } catch {
    const memory = new Map<string, string>();
    return {
      getItem: (key) => memory.get(key) ?? null,
      setItem: (key, value) => void memory.set(key, value),
      removeItem: (key) => void memory.delete(key),
    };
  }
}

export function TodoApp() {
  const storageRef = useRef<KeyValueStorage | null>(null);
  const sessionRef = useRef<Session | null>(null);
  const [session, setSession] = useState<Session | null>(null);
  const [ready, setReady] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [tasksVersion, setTasksVersion] = useState(0);

  // Read the stored session after hydration: the server render never sees localStorage.
  useEffect(() => {
    storageRef.current = browserStorage();
    const restored = loadSession(storageRef.current);
    sessionRef.current = restored;
    setSession(restored);
    setReady(true);
  }, []);

  const signOut = useCallback((message: string | null) => {
    if (storageRef.current) clearSession(storageRef.current);
    sessionRef.current = null;
    setSession(null);
    setNotice(message);
  }, []);

  const api = useMemo(
    () =>
      new ApiClient({
        getToken: () => sessionRef.current?.token ?? null,
        onUnauthorized: () => signOut("Your session has expired. Sign in again."),
      }),
    [signOut],
  );

  const signIn = useCallback((next: Session) => {
    if (storageRef.current) saveSession(storageRef.current, next);
    sessionRef.current = next;
    setSession(next);
    setNotice(null);
  }, []);

  const refreshTasks = useCallback(() => setTasksVersion((version) => version + 1), []);

  if (!ready) {
    return <main className="notice" aria-busy="true">Loading…</main>;
  }

  if (session === null) {
    return <AuthForm api={api} onSignedIn={signIn} notice={notice} />;
  }

  return (
    <>
      <header className="topbar">
        <h1>Todo AI Chatbot</h1>
        <div>
          <span className="who" data-testid="signed-in-as">{session.email}</span>
          <button type="button" className="secondary" onClick={() => signOut(null)} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </header>
      <main className="workspace">
        <ChatPanel api={api} onTurnFinished={refreshTasks} />
        <TaskList api={api} version={tasksVersion} />
      </main>
    </>
  );
}
