"""The wheel build compiles the gettext catalogues: ``bridge/translations``
holds only the ``.po`` sources, and every installed copy needs the ``.mo``
files that ``bridge.core.l10n`` reads. Everything else is in setup.cfg."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGUES = Path("bridge") / "translations"


class BuildWithCatalogues(build_py):
    """build_py, then each ``<lang>/LC_MESSAGES/messages.po`` compiled next
    to its copy in the build (in the source tree for an editable install,
    which runs from there)."""

    def run(self):
        super().run()
        target = Path("." if self.editable_mode else self.build_lib)
        for po in sorted(CATALOGUES.glob("*/LC_MESSAGES/*.po")):
            mo = target / po.with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parts[-3])
            with mo.open("wb") as out:
                write_mo(out, catalog)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        compiled = [
            str(Path(self.build_lib) / po.with_suffix(".mo"))
            for po in sorted(CATALOGUES.glob("*/LC_MESSAGES/*.po"))
        ]
        return outputs + [path for path in compiled if path not in outputs]


setup(cmdclass={"build_py": BuildWithCatalogues})
