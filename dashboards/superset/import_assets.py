"""Run by `coinbook dashboards up` (pipelines/services/dashboards.py) with Superset's own Python: import the bundle
with Superset's assets importer, which overwrites every database, dataset, chart and dashboard the bundle names (what
its `/api/v1/assets/import/` does). `superset import-dashboards` overwrites the dashboards only: a chart or dataset
changed in the bundle kept the version first imported (a new number format, a column added to a mart).

    <superset venv>/bin/python import_assets.py BUNDLE.zip USER
"""

import sys
from zipfile import ZipFile

from superset.app import create_app


def main(bundle: str, user: str) -> None:
    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.utils.core import override_user

        with ZipFile(bundle) as archive:
            contents = get_contents_from_bundle(archive)
        with override_user(security_manager.find_user(username=user)):
            ImportAssetsCommand(contents).run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
