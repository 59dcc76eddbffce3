"""The leaderboard: read and check records, build entries and tables, render Markdown and HTML pages."""
