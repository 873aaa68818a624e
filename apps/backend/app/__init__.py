"""Todo AI Chatbot backend: FastAPI REST API, MCP task tools and a chat agent over PostgreSQL."""

__version__ = "0.1.0"
