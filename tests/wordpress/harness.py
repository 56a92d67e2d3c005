"""A real WordPress for the plugin's tests and benchmark: Debian's
``wordpress`` package on PHP's built-in server, the machine's MariaDB, the
plugin symlinked into ``wp-content/plugins`` and activated.

Each run is isolated: its own database (dropped at the end) and its own
Debian config file, ``/etc/wordpress/config-bbtest-<id>.php``, picked by the
router through ``$_SERVER['WORDPRESS_CONFIG']`` (Debian's wp-config.php
honours it before the host name), so runs never share or overwrite
``config-127.0.0.1.php``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCE = ROOT / "wp-plugin" / "billing-bridge"
WP_CORE = Path("/usr/share/wordpress")
WP_CONTENT = Path("/var/lib/wordpress/wp-content")
WP_CONFIG_DIR = Path("/etc/wordpress")
PLUGIN_LINK = WP_CONTENT / "plugins" / "billing-bridge"
PLUGIN_FILE = "billing-bridge/billing-bridge.php"

PACKAGES = [
    "wordpress",
    "php-cli",
    "php-mysql",
    "php-curl",
    "php-xml",
    "php-mbstring",
    "phpunit",
    "php-codesniffer",
]
PHP_MODULES = ("mysqli", "curl", "dom", "mbstring")
MARIADB = ["mariadb", "-h", "127.0.0.1", "-P", "3306", "-uroot", "--batch", "--skip-column-names"]

ADMIN = ("admin", "admin-pass-4821", "owner@acme-shop.example")


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _missing_software() -> list[str]:
    missing = []
    for tool in ("/usr/bin/php", "/usr/bin/phpunit", "/usr/bin/phpcs"):
        if not Path(tool).exists():
            missing.append(tool)
    if not (WP_CORE / "wp-load.php").exists():
        missing.append(str(WP_CORE / "wp-load.php"))
    if Path("/usr/bin/php").exists():
        modules = subprocess.run(
            ["php", "-m"], capture_output=True, text=True, check=False
        ).stdout.lower()
        missing += [f"php-{m}" for m in PHP_MODULES if m not in modules.split()]
    return missing


_install_attempted = False


def ensure_software() -> str | None:
    """Install the Debian packages when missing (as root: ``apt-get update``
    once, then ``apt-get install``); the reason they are unavailable, or None."""
    global _install_attempted
    missing = _missing_software()
    if not missing:
        return None
    if os.geteuid() != 0:
        return (
            f"WordPress/PHP packages missing ({', '.join(missing)}) and this is not root: "
            f"run `make wp-deps` as root or apt-get install {' '.join(PACKAGES)}"
        )
    if not _install_attempted:
        _install_attempted = True
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", *PACKAGES],
        ):
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if result.returncode != 0:
                return f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}"
    missing = _missing_software()
    return f"still missing after apt-get install: {', '.join(missing)}" if missing else None


def ensure_mariadb() -> str | None:
    """MariaDB on 127.0.0.1:3306 (started when it is installed but stopped)."""
    if shutil.which("mariadb") is None:
        return "the mariadb client is not installed"

    def ping() -> bool:
        return (
            subprocess.run(
                [*MARIADB, "-e", "SELECT 1"], capture_output=True, check=False
            ).returncode
            == 0
        )

    if ping():
        return None
    if os.geteuid() == 0 and Path("/usr/sbin/mariadbd").exists():
        subprocess.run(
            [
                "start-stop-daemon",
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ],
            capture_output=True,
            check=False,
        )
        for _ in range(50):
            if ping():
                return None
            time.sleep(0.2)
    return "MariaDB is not reachable on 127.0.0.1:3306 as root without a password"


def ready() -> str | None:
    """None when a WordPress can run here, else why not."""
    return ensure_software() or ensure_mariadb() or _check_plugin_link()


def _check_plugin_link() -> str | None:
    if PLUGIN_LINK.exists() and not PLUGIN_LINK.is_symlink():
        return f"{PLUGIN_LINK} is a real folder, not this checkout's plugin: remove it first"
    if not os.access(WP_CONTENT / "plugins", os.W_OK) or not os.access(WP_CONFIG_DIR, os.W_OK):
        return f"cannot write to {WP_CONTENT / 'plugins'} and {WP_CONFIG_DIR} (run as root)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def serve_php(port: int, docroot: Path, router: Path, *, workers: int, log, cwd: Path):
    """``php -S`` with ``workers`` worker processes, in a process group of its
    own: the workers are its children and outlive it when only it is killed."""
    env = {**os.environ, "PHP_CLI_SERVER_WORKERS": str(workers)}
    return subprocess.Popen(
        ["php", "-S", f"127.0.0.1:{port}", "-t", str(docroot), str(router)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )


def stop_php(server: subprocess.Popen, port: int, timeout: float = 10) -> None:
    """Stops the server and every worker (the whole process group), then
    checks that nothing listens on ``port`` any more."""
    group = server.pid  # the session leader's pid is the group id
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        try:
            server.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(group, wait):
            break
    if _group_alive(group, 0):
        raise RuntimeError(f"php -S workers of group {group} are still running")
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"something still listens on 127.0.0.1:{port}")


def _group_alive(group: int, timeout: float) -> bool:
    """Whether a process of the group is left after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)


ROUTER = r"""<?php
// Picks this run's Debian config file, serves wp-content files from
// /var/lib/wordpress, lets existing files through and sends the rest to WordPress.
$_SERVER['WORDPRESS_CONFIG'] = '%(config)s';
$path = rawurldecode((string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
if (str_starts_with($path, '/wp-content/') && !str_ends_with($path, '.php')) {
    $file = realpath('/var/lib/wordpress' . $path);
    if ($file !== false && is_file($file)) {
        $types = ['css' => 'text/css', 'js' => 'application/javascript',
                  'png' => 'image/png', 'jpg' => 'image/jpeg', 'svg' => 'image/svg+xml',
                  'woff2' => 'font/woff2', 'json' => 'application/json'];
        $type = $types[pathinfo($file, PATHINFO_EXTENSION)] ?? 'application/octet-stream';
        header('Content-Type: ' . $type);
        readfile($file);
        return true;
    }
}
if (file_exists($_SERVER['DOCUMENT_ROOT'] . $path)) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['PHP_SELF'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['DOCUMENT_ROOT'] . '/index.php';
chdir($_SERVER['DOCUMENT_ROOT']);
require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
"""

CONFIG = r"""<?php
// Written by tests/wordpress/harness.py for one test run; removed at its end.
define('DB_NAME', '%(database)s');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', '127.0.0.1:3306');
define('WP_HOME', '%(url)s');
define('WP_SITEURL', '%(url)s');
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_DEBUG', true);
define('WP_DEBUG_DISPLAY', false);
define('WP_DEBUG_LOG', '%(debug_log)s');
%(extra)s
%(salts)s
$table_prefix = 'wp_';
"""


class WordPress:
    """One WordPress site on ``http://127.0.0.1:<port>`` with its own database."""

    def __init__(self, workdir: Path, *, extra_config: str = "", workers: int = 4):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.run_id = secrets.token_hex(5)
        self.database = f"bbwp_{self.run_id}"
        self.config_name = f"bbtest-{self.run_id}"
        self.config_file = WP_CONFIG_DIR / f"config-{self.config_name}.php"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.debug_log = self.workdir / "debug.log"
        self.extra_config = extra_config
        self.workers = workers
        self.server: subprocess.Popen | None = None
        self.server_log = self.workdir / "php-server.log"

    # Setup ----------------------------------------------------------------------

    def start(self) -> WordPress:
        self._sql(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
        salts = "\n".join(
            f"define('{name}', '{secrets.token_hex(32)}');"
            for name in (
                "AUTH_KEY",
                "SECURE_AUTH_KEY",
                "LOGGED_IN_KEY",
                "NONCE_KEY",
                "AUTH_SALT",
                "SECURE_AUTH_SALT",
                "LOGGED_IN_SALT",
                "NONCE_SALT",
            )
        )
        self.config_file.write_text(
            CONFIG
            % {
                "database": self.database,
                "url": self.url,
                "debug_log": self.debug_log,
                "extra": self.extra_config,
                "salts": salts,
            }
        )
        if PLUGIN_LINK.is_symlink() and PLUGIN_LINK.resolve() != PLUGIN_SOURCE.resolve():
            PLUGIN_LINK.unlink()
        if not PLUGIN_LINK.exists():
            PLUGIN_LINK.symlink_to(PLUGIN_SOURCE)
        self.php(
            f"""
            require_once ABSPATH . 'wp-admin/includes/upgrade.php';
            $r = wp_install('Acme shop', '{ADMIN[0]}', '{ADMIN[2]}', false, '', '{ADMIN[1]}');
            echo $r['user_id'];
            """,
            installing=True,
        )
        self.php(
            f"""
            require_once ABSPATH . 'wp-admin/includes/plugin.php';
            $r = activate_plugin('{PLUGIN_FILE}');
            if (is_wp_error($r)) {{ fwrite(STDERR, $r->get_error_message()); exit(1); }}
            """
        )
        router = self.workdir / "router.php"
        router.write_text(ROUTER % {"config": self.config_name})
        log = self.server_log.open("wb")
        self.server = serve_php(
            self.port, WP_CORE, router, workers=self.workers, log=log, cwd=WP_CORE
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            stop_php(server, self.port)
        self.config_file.unlink(missing_ok=True)
        self._sql(f"DROP DATABASE IF EXISTS `{self.database}`")

    def __enter__(self) -> WordPress:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc) -> None:
        self.stop()

    def _sql(self, statement: str) -> str:
        result = subprocess.run(
            [*MARIADB, "-e", statement], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb: {statement}: {result.stderr}")
        return result.stdout

    # PHP in WordPress's context -----------------------------------------------------

    def php(self, code: str, *, installing: bool = False) -> str:
        """Runs ``code`` after wp-load.php (as a CLI script); returns its output."""
        script = self.workdir / f"eval-{secrets.token_hex(4)}.php"
        script.write_text(
            "<?php\n"
            f"$_SERVER['HTTP_HOST'] = '127.0.0.1:{self.port}';\n"
            f"$_SERVER['WORDPRESS_CONFIG'] = '{self.config_name}';\n"
            "$_SERVER['REQUEST_URI'] = '/';\n"
            "$_SERVER['SERVER_NAME'] = '127.0.0.1';\n"
            f"$_SERVER['SERVER_PORT'] = '{self.port}';\n"
            + ("define('WP_INSTALLING', true);\n" if installing else "")
            + f"require '{WP_CORE}/wp-load.php';\n"
            + code
            + "\n"
        )
        try:
            result = subprocess.run(
                ["php", str(script)], capture_output=True, text=True, check=False, cwd=WP_CORE
            )
        finally:
            script.unlink(missing_ok=True)
        if result.returncode != 0:
            raise RuntimeError(f"php failed ({result.returncode}): {result.stderr}{result.stdout}")
        return result.stdout

    def add_user(self, login: str, email: str, password: str, role: str = "subscriber") -> int:
        out = self.php(
            f"""
            $id = wp_insert_user(['user_login' => '{login}', 'user_email' => '{email}',
                                  'user_pass' => '{password}', 'role' => '{role}']);
            if (is_wp_error($id)) {{ fwrite(STDERR, $id->get_error_message()); exit(1); }}
            echo $id;
            """
        )
        return int(out.strip())

    def set_option(self, name: str, value) -> None:
        self.php(f"update_option({_php(name)}, {_php(value)});")

    def get_option(self, name: str) -> str:
        return self.php(f"echo wp_json_encode(get_option({_php(name)}));").strip()

    def flush_plugin_cache(self) -> None:
        self.php(r"\BillingBridge\Plugin::flushCache();")

    def debug_lines(self) -> list[str]:
        if not self.debug_log.exists():
            return []
        return self.debug_log.read_text(errors="replace").splitlines()

    # HTTP -------------------------------------------------------------------------------

    def login(self, user: str, password: str) -> requests.Session:
        """A requests session logged in through wp-login.php."""
        session = requests.Session()
        session.cookies.set("wordpress_test_cookie", "WP Cookie check", domain="127.0.0.1")
        response = session.post(
            f"{self.url}/wp-login.php",
            data={
                "log": user,
                "pwd": password,
                "testcookie": "1",
                "rememberme": "forever",
                "redirect_to": f"{self.url}/wp-admin/",
            },
            allow_redirects=False,
            timeout=20,
        )
        if response.status_code != 302 or not any(
            c.name.startswith("wordpress_logged_in_") for c in session.cookies
        ):
            raise RuntimeError(
                f"login as {user} failed: {response.status_code} {response.text[:500]}"
            )
        return session

    def admin_page(self, slug: str) -> str:
        return f"{self.url}/wp-admin/admin.php?page={slug}"


def _php(value) -> str:
    """A Python value as a PHP literal (strings, ints, bools, None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def nonce_form(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the admin-post form whose ``action`` is ``action``."""
    for form in re.findall(r"<form[^>]*>(.*?)</form>", html, re.S):
        if f'name="action" value="{action}"' in form:
            return dict(
                re.findall(r'<input type="hidden"[^>]*name="([^"]+)" value="([^"]*)"', form)
            )
    raise AssertionError(f"no form for {action}")
