"""The plugin's PHP checks, so ``make test`` runs them: ``php -l`` on every
file, ``phpcs`` with the plugin's ruleset (PSR-12 based), its PHPUnit tests
(signer against the shared vectors, permissions, cache), and the
translation template kept up to date with every string in the text domain.

These need only PHP, phpcs and phpunit (no WordPress site, no bridge)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.wordpress import harness

pytestmark = pytest.mark.slow  # PHP linters and phpunit

PLUGIN = harness.PLUGIN_SOURCE
GETTEXT = ("__", "_e", "_n", "_x", "esc_html__", "esc_html_e", "esc_attr__", "esc_attr_e")


@pytest.fixture(scope="module")
def php_tools():
    reason = harness.ensure_software()
    if reason:
        if harness.in_ci():
            pytest.fail(f"the plugin checks must run in CI: {reason}", pytrace=False)
        pytest.skip(reason)


def php_files() -> list:
    return sorted(PLUGIN.rglob("*.php"))


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=PLUGIN, capture_output=True, text=True, check=False)


def test_every_php_file_parses(php_tools):
    assert len(php_files()) >= 10
    for path in php_files():
        result = run(["php", "-l", str(path)])
        assert result.returncode == 0, result.stdout + result.stderr


def test_phpcs_is_clean(php_tools):
    result = run(["phpcs", "--standard=phpcs.xml", "--report=full", "-q"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_phpunit(php_tools):
    result = run(["phpunit", "--configuration", "phpunit.xml.dist", "--colors=never"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"OK \((\d+) tests?, (\d+) assertions?\)", result.stdout)
    assert summary and int(summary.group(1)) >= 30, result.stdout


def _calls(source: str):
    """Each gettext call in ``source`` as its full text (balanced parentheses,
    quoted strings skipped)."""
    pattern = re.compile(r"(?<![\w>$:\\])(" + "|".join(map(re.escape, GETTEXT)) + r")\(")
    for match in pattern.finditer(source):
        depth, i, quote = 0, match.end() - 1, None
        while i < len(source):
            char = source[i]
            if quote:
                if char == "\\":
                    i += 1
                elif char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    yield match.group(1), source[match.start() : i + 1]
                    break
            i += 1


def test_every_string_uses_the_text_domain():
    count = 0
    for path in php_files():
        if "tests" in path.relative_to(PLUGIN).parts:
            continue
        for _name, call in _calls(path.read_text()):
            count += 1
            assert re.search(r",\s*'billing-bridge'\s*\)$", call), f"{path.name}: {call}"
    assert count > 100


def test_the_translation_template_is_up_to_date(tmp_path):
    if shutil.which("xgettext") is None:
        pytest.skip("xgettext (gettext) is not installed")
    copy = tmp_path / "billing-bridge"
    shutil.copytree(PLUGIN, copy, ignore=shutil.ignore_patterns("tests"))
    subprocess.run([str(copy / "bin" / "make-pot")], check=True, capture_output=True)

    def msgids(text: str) -> set[str]:
        return set(re.findall(r'^msgid "(.+)"$', text, re.M))

    fresh = msgids((copy / "languages" / "billing-bridge.pot").read_text())
    shipped = msgids((PLUGIN / "languages" / "billing-bridge.pot").read_text())
    assert fresh == shipped, (
        "languages/billing-bridge.pot is out of date: run wp-plugin/billing-bridge/bin/make-pot"
    )
    assert len(shipped) > 100


def test_every_php_file_exits_when_loaded_outside_wordpress():
    guarded = 0
    for path in php_files():
        relative = path.relative_to(PLUGIN)
        if relative.parts[0] == "tests":
            continue
        head = path.read_text()[:1500]
        if relative.name == "uninstall.php":
            assert "if (!defined('WP_UNINSTALL_PLUGIN')) {\n    exit;\n}" in head
            continue
        assert "\ndefined('ABSPATH') || exit;\n" in head, relative
        guarded += 1
    assert guarded >= 14


def test_the_plugin_header_and_readme():
    main = (PLUGIN / "billing-bridge.php").read_text()
    for header in (
        "Plugin Name:       Billing Bridge",
        "Requires at least: 6.1",
        "Requires PHP:      8.1",
        "Text Domain:       billing-bridge",
        "Domain Path:       /languages",
        # Not on wordpress.org: a plugin there with the same slug is never offered as an update.
        "Update URI:        https://github.com/billing-bridge/billing-bridge",
    ):
        assert header in main
    readme = (PLUGIN / "readme.txt").read_text()
    assert readme.startswith("=== Billing Bridge ===")
    for section in ("== Description ==", "== Installation ==", "== Changelog =="):
        assert section in readme
    uninstall = (PLUGIN / "uninstall.php").read_text()
    assert "WP_UNINSTALL_PLUGIN" in uninstall and "Cleanup::everywhere()" in uninstall
