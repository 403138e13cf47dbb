"""What the slips say, Vietnamese first with a short English line under each heading.

Printed for citizens to keep, so every sentence says what the slip is for and what to do next.
"""
from __future__ import annotations

RECEIPT_TITLE = "PHIẾU LẤY MẪU XÉT NGHIỆM"
RECEIPT_TITLE_EN = "Sample receipt"
DECLARATION_TITLE = "PHIẾU KHAI BÁO Y TẾ"
DECLARATION_TITLE_EN = "Health declaration slip"
TIME = "Thời gian lấy mẫu"
DECLARED_AT = "Khai báo lúc"
TEST = "Xét nghiệm"
TEST_TYPES = {"rt-pcr": "RT-PCR", "rapid-antigen": "Test nhanh kháng nguyên"}
PERSON = "Người được lấy mẫu"
PEOPLE_IN_TUBE = "Số người trong ống (mẫu gộp)"
NAME = "Họ tên"
BORN = "Năm sinh"
TUBE_CODE = "Mã ống mẫu"
SHORT_CODE = "Mã khai báo"
RESULT_HOW = ("Kết quả được gửi lên hệ thống xét nghiệm và về ứng dụng sức khoẻ trên điện thoại "
              "của bạn khi phòng xét nghiệm trả kết quả, thường trong vòng {hours} giờ. Không có "
              "điện thoại: hỏi tại điểm lấy mẫu và đưa mã ống trên phiếu này.")
RESULT_HOW_EN = "Result: in the health app within about {hours} h; or ask here with this tube code."
KEEP = "Giữ phiếu này đến khi có kết quả."
DECLARATION_HOW = ("Mang phiếu này đến bàn lấy mẫu và đưa nhân viên quét mã QR. Phiếu thay cho "
                   "mã QR trên điện thoại.")
DECLARATION_HOW_EN = "Bring this slip to the sampling table; staff scan the QR code."
DECLARED_BY_VOLUNTEER = "Khai báo hộ bởi tình nguyện viên"
