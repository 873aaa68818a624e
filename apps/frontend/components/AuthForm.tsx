"use client";

import { type FormEvent, useState } from "react";
import { ApiError, type ApiClient } from "@/lib/api";
import { type Session, validateCredentials } from "@/lib/auth";

type Mode = "signin" | "signup";

export function AuthForm({
  api,
  onSignedIn,
  notice,
}: {
  api: ApiClient;
  onSignedIn: (session: Session) => void;
  notice: string | null;
}) {
  const [mode, setMode] = useState<Mode>("signin");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const problem = validateCredentials(email, password, mode);
    if (problem) {
      setError(problem.message);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const result = mode === "signup" ? await api.signup(email, password) : await api.login(email, password);
      onSignedIn({ token: result.token, email: result.email });
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  }

  const title = mode === "signup" ? "Create your account" : "Sign in";
  return (
    <main className="auth">
      <h1>{title}</h1>
      {notice && <p className="notice" role="status">{notice}</p>}
      <form onSubmit={submit} noValidate data-testid="auth-form" data-mode={mode}>
        <label htmlFor="email">Email</label>
        <input
          id="email"
          type="email"
          autoComplete="email"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          data-testid="auth-email"
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          type="password"
          autoComplete={mode === "signup" ? "new-password" : "current-password"}
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          data-testid="auth-password"
        />
        {error && (
          <p className="error" role="alert" data-testid="auth-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="submit" disabled={busy} data-testid="auth-submit">
            {busy ? "Please wait…" : mode === "signup" ? "Sign up" : "Sign in"}
          </button>
        </div>
      </form>
      <p className="switch">
        {mode === "signup" ? "Already have an account? " : "New here? "}
        <button
          type="button"
          onClick={() => {
            setMode(mode === "signup" ? "signin" : "signup");
            setError(null);
          }}
          data-testid="auth-switch"
        >
          {mode === "signup" ? "Sign in" : "Create an account"}
        </button>
      </p>
    </main>
  );
}
