"""Production settings pass Django's deployment checks and refuse a missing or weak key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


GOOD_KEY = "k" * 20 + "Zq8-vL2#pX9!mR4@tN7$wB1%yC6^hJ3&fD5*" + "x" * 10
IDENTIFIER_KEY = "i" * 16 + "Hn3-Wq7#Lm2!Pz8@" + "y" * 8


def run_check(**env: str) -> subprocess.CompletedProcess[str]:
    unset = {"SECRET_KEY", "DJANGO_SETTINGS_MODULE", "PARTNER_SANDBOX_URL", "IDENTIFIER_HASH_KEY"}
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment["IDENTIFIER_HASH_KEY"] = IDENTIFIER_KEY
    environment.update(env)
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings_production"
    return subprocess.run(  # fixed argv
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_prints_no_warning_with_production_settings() -> None:
    result = run_check(SECRET_KEY=GOOD_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    result = run_check()
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_refuse_to_start_without_an_identifier_key() -> None:
    result = run_check(SECRET_KEY=GOOD_KEY, IDENTIFIER_HASH_KEY="")
    assert result.returncode != 0
    assert "IDENTIFIER_HASH_KEY must be set" in result.stderr


def test_production_settings_refuse_a_short_identifier_key() -> None:
    result = run_check(SECRET_KEY=GOOD_KEY, IDENTIFIER_HASH_KEY="short")
    assert result.returncode != 0
    assert "IDENTIFIER_HASH_KEY must be at least 32 characters" in result.stderr


def test_production_settings_refuse_to_start_with_the_partner_sandbox() -> None:
    result = run_check(SECRET_KEY=GOOD_KEY, PARTNER_SANDBOX_URL="http://127.0.0.1:8001")
    assert result.returncode != 0
    assert "PARTNER_SANDBOX_URL is for the local demo only" in result.stderr
