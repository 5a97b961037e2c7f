"""The console in a real browser (Playwright driving Debian's Chromium) against the local stack."""
