"""How plans, results and compliance are shown (text, JSON, Markdown). Pure."""
