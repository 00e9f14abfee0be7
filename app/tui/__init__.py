"""The interactive terminal UI (`./start.sh`): arrow-key menus over OrderService, with Rich
rendering. Pure renderables live in health.py and dashboard.py; app.py is the menu loop."""
