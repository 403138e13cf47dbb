"""Packaging for samplepoint: the sampling-point appliance and its reference central server."""
from glob import glob

from setuptools import find_packages, setup

setup(
    name="samplepoint",
    version="0.1.0",
    description="Sampling-point appliance: QR scanning into pooled tubes, captive portal, store-and-forward",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["samplepoint*", "kiosk*", "hotspot*", "central*", "provisioning*"], exclude=["tests*", "benchmarks*"]),
    include_package_data=True,
    data_files=[("share/samplepoint/systemd", sorted(glob("systemd/*.service"))),
                ("share/samplepoint/udev", sorted(glob("provisioning/udev/*.rules"))),
                ("share/samplepoint", ["provisioning/firstboot.sh"])],
    # Pages, styles and message catalogs sit in folders that are not packages (templates/, static/,
    # locale/, translations/): a pattern reaches into them only when it names the folder.
    package_data={"": ["*.html", "*.css", "*.js", "*.json", "*.toml", "*.po", "*.mo", "*.svg", "*.sh",
                       "templates/*.html", "static/*", "locale/*.json", "translations/*.po",
                       "translations/*/LC_MESSAGES/*"]},
    install_requires=[
        "flask>=2.3",
        "waitress>=2.1",
        "requests>=2.28",
        "segno>=1.5",
        "pyzbar>=0.1.9",
        "zxing-cpp>=2.2",
        "pillow>=9.4",
        "numpy>=1.24",
        "gpiozero>=2.0",
        "python-barcode>=0.15",
        "vietnam-provinces>=2025.10",
        "babel>=2.12",
        "openpyxl>=3.1",
        "argon2-cffi>=21.3",
        "flask-login>=0.6",
        "flask-wtf>=1.2",
        "pyyaml>=6.0",
        "fhirclient>=4.4,<5",        # FHIR R4 (4.0.1) resource models: validates exported Bundles
        "python-escpos>=3.1",
        "pyusb>=1.2",
        "fpdf2>=2.7",                # the badge sheet (central badge --pdf)
    ],
    extras_require={
        "test": ["pytest>=7.2", "hypothesis>=6.70", "opencv-python-headless>=4.7", "selenium>=4.10",
                 "fhir.resources>=8.3,<9",      # a second FHIR model set (R4B) in the test receiver
                 "psycopg[binary]>=3.1", "gunicorn>=21.2"],
        # The central server for a whole province: PostgreSQL and several worker processes.
        "postgresql": ["psycopg[binary]>=3.1", "gunicorn>=21.2"],
        "pi": ["lgpio>=0.2"],
        "usb-camera": ["opencv-python-headless>=4.7"],
    },
    entry_points={"console_scripts": ["samplepoint=samplepoint.cli:main"]},
)
