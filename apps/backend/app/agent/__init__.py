"""The chat agent: an OpenAI Agents SDK agent when OPENAI_API_KEY is set, otherwise a deterministic
local intent parser. Both call the task tools through one in-process MCP client session."""
