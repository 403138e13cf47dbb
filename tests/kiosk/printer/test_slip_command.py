"""`samplepoint slip receipt|declaration --png FILE`: the printer's own picture, without a printer."""
import numpy as np
import pytest
from PIL import Image

from kiosk import codes
from kiosk.decode import make_decoder
from samplepoint import signed_codes
from samplepoint.cli import main
from tests.conftest import write_config


def decoded(path, decoder: str = "zxing+pyzbar"):
    return [s.data for s in make_decoder(decoder).decode(np.asarray(Image.open(path).convert("L")))]


@pytest.fixture
def config(tmp_path):
    key_file = tmp_path / "code-key"
    key_file.write_text(signed_codes.new_key() + "\n")
    return write_config(tmp_path, scan={"code_key_file": str(key_file)},
                        site={"id": "SITE-TEST", "pool_size": 3, "name": "Trạm Y tế xã Mỹ Hiệp"})


@pytest.mark.parametrize("paper, width", [(58, 384), (80, 576)])
def test_receipt_png_has_the_tube_barcode(config, tmp_path, paper, width):
    out = tmp_path / "receipt.png"
    assert main(["slip", "--config", str(config), "receipt", "--tube", "DT00000042", "--people", "5",
                 "--at", "2021-08-20T09:12", "--paper", str(paper), "--png", str(out)]) == 0
    assert Image.open(out).width == width
    # The kiosk's own default decoder reads it, text lines close above and below included.
    assert decoded(out) == [b"DT00000042"]


def test_declaration_png_is_accepted_by_the_kiosk(config, tmp_path):
    out = tmp_path / "declaration.png"
    assert main(["slip", "--config", str(config), "declaration", "--name", "TRẦN VĂN BẢY",
                 "--dob", "1941-02-03", "--id", "087041001234", "--png", str(out)]) == 0
    key = signed_codes.load_key(str(tmp_path / "code-key"))
    [data] = decoded(out)
    scan = codes.classify(data, r"DT\d{8}", key)
    assert isinstance(scan, codes.PersonScan) and scan.person.full_name == "TRẦN VĂN BẢY"


def test_declaration_without_a_person_or_code_explains_what_to_give(config, tmp_path):
    with pytest.raises(SystemExit, match="--short-code, or --name"):
        main(["slip", "--config", str(config), "declaration", "--png", str(tmp_path / "x.png")])


def test_printing_without_a_printer_says_how_to_get_a_png(config, capsys):
    assert main(["slip", "--config", str(config), "receipt", "--tube", "DT00000042"]) == 2
    assert "--png" in capsys.readouterr().err


def test_printing_on_the_dummy_printer_reports_ready(tmp_path):
    path = write_config(tmp_path, printer={"backend": "dummy"})
    assert main(["slip", "--config", str(path), "receipt", "--tube", "DT00000042"]) == 0
