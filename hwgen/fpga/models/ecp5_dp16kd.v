// hwgen's behavioural model of the ECP5 DP16KD block RAM, for the netlist check: yosys
// ships this cell for ECP5 with parameters only. Modelled: both ports at DATA_WIDTH 1/2/4/9/18
// (9 and 18 may be mixed; 1/2/4 only with the same width on both ports), the 36-bit
// pseudo-dual-port form (write on A, read on B), byte enables on AD[1:0] (x18) or AD[3:0]
// (x36), WRITEMODE NORMAL/WRITETHROUGH/READBEFOREWRITE, REGMODE NOREG/OUTREG, synchronous
// output reset (an asynchronous one only while low), CLKxMUX INV, CSDECODE 0b000. Anything
// else stops the simulation with $fatal instead of being mis-modelled. A read and a write of
// the same word on different ports in one cycle return the old data.
`timescale 1ns/1ps
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
  parameter DATA_WIDTH_A = 18;
  parameter DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC";
  parameter ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000";
  parameter CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL";
  parameter WRITEMODE_B = "NORMAL";
  parameter GSR = "ENABLED";
  parameter CLKAMUX = "CLKA";
  parameter CLKBMUX = "CLKB";
  parameter INIT_DATA = "STATIC";
  // initial contents: yosys maps hwgen's memories with none (all zero), so these are not read
  parameter INITVAL_00 = 320'h0;
  parameter INITVAL_01 = 320'h0;
  parameter INITVAL_02 = 320'h0;
  parameter INITVAL_03 = 320'h0;
  parameter INITVAL_04 = 320'h0;
  parameter INITVAL_05 = 320'h0;
  parameter INITVAL_06 = 320'h0;
  parameter INITVAL_07 = 320'h0;
  parameter INITVAL_08 = 320'h0;
  parameter INITVAL_09 = 320'h0;
  parameter INITVAL_0A = 320'h0;
  parameter INITVAL_0B = 320'h0;
  parameter INITVAL_0C = 320'h0;
  parameter INITVAL_0D = 320'h0;
  parameter INITVAL_0E = 320'h0;
  parameter INITVAL_0F = 320'h0;
  parameter INITVAL_10 = 320'h0;
  parameter INITVAL_11 = 320'h0;
  parameter INITVAL_12 = 320'h0;
  parameter INITVAL_13 = 320'h0;
  parameter INITVAL_14 = 320'h0;
  parameter INITVAL_15 = 320'h0;
  parameter INITVAL_16 = 320'h0;
  parameter INITVAL_17 = 320'h0;
  parameter INITVAL_18 = 320'h0;
  parameter INITVAL_19 = 320'h0;
  parameter INITVAL_1A = 320'h0;
  parameter INITVAL_1B = 320'h0;
  parameter INITVAL_1C = 320'h0;
  parameter INITVAL_1D = 320'h0;
  parameter INITVAL_1E = 320'h0;
  parameter INITVAL_1F = 320'h0;
  parameter INITVAL_20 = 320'h0;
  parameter INITVAL_21 = 320'h0;
  parameter INITVAL_22 = 320'h0;
  parameter INITVAL_23 = 320'h0;
  parameter INITVAL_24 = 320'h0;
  parameter INITVAL_25 = 320'h0;
  parameter INITVAL_26 = 320'h0;
  parameter INITVAL_27 = 320'h0;
  parameter INITVAL_28 = 320'h0;
  parameter INITVAL_29 = 320'h0;
  parameter INITVAL_2A = 320'h0;
  parameter INITVAL_2B = 320'h0;
  parameter INITVAL_2C = 320'h0;
  parameter INITVAL_2D = 320'h0;
  parameter INITVAL_2E = 320'h0;
  parameter INITVAL_2F = 320'h0;
  parameter INITVAL_30 = 320'h0;
  parameter INITVAL_31 = 320'h0;
  parameter INITVAL_32 = 320'h0;
  parameter INITVAL_33 = 320'h0;
  parameter INITVAL_34 = 320'h0;
  parameter INITVAL_35 = 320'h0;
  parameter INITVAL_36 = 320'h0;
  parameter INITVAL_37 = 320'h0;
  parameter INITVAL_38 = 320'h0;
  parameter INITVAL_39 = 320'h0;
  parameter INITVAL_3A = 320'h0;
  parameter INITVAL_3B = 320'h0;
  parameter INITVAL_3C = 320'h0;
  parameter INITVAL_3D = 320'h0;
  parameter INITVAL_3E = 320'h0;
  parameter INITVAL_3F = 320'h0;

  // DATA_WIDTH 36 on both ports is the pseudo-dual-port form (yosys' PDPW16KD mapping):
  // port A writes {DIB, DIA} with byte enables on ADA[3:0], port B reads {DOB, DOA}
  localparam PDP = DATA_WIDTH_A == 36;
  localparam SA = DATA_WIDTH_A == 18 ? 4 : DATA_WIDTH_A == 9 ? 3 : DATA_WIDTH_A == 4 ? 2 : DATA_WIDTH_A == 2 ? 1 : 0;
  localparam SB = DATA_WIDTH_B == 18 ? 4 : DATA_WIDTH_B == 9 ? 3 : DATA_WIDTH_B == 4 ? 2 : DATA_WIDTH_B == 2 ? 1 : 0;
  initial begin
    if (CSDECODE_A != "0b000" || CSDECODE_B != "0b000")
      $fatal(1, "DP16KD model: only CSDECODE 0b000 is modelled");
    if ((DATA_WIDTH_A == 36) != (DATA_WIDTH_B == 36))
      $fatal(1, "DP16KD model: 36-bit mode needs DATA_WIDTH 36 on both ports");
    if (DATA_WIDTH_A != DATA_WIDTH_B && (DATA_WIDTH_A < 9 || DATA_WIDTH_B < 9))
      $fatal(1, "DP16KD model: mixed port widths below 9 bits are not modelled");
  end

  reg [18431:0] mem = 0;
  reg [35:0] pd_q = 0, pd_o = 0;
  wire [35:0] pd_do = REGMODE_B == "OUTREG" ? pd_o : pd_q;

  wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
  wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
  wire clka = (CLKAMUX == "INV") ? ~CLKA : CLKA;
  wire csa = {CSA2, CSA1, CSA0} == 3'b000;
  wire [13:0] wa = ada >> SA;                  // word index at this port's width
  wire [14:0] basea = wa * DATA_WIDTH_A;
  reg [17:0] qa = 0, oa = 0;
  always @(posedge clka) if (!PDP) begin
    if (CEA && csa) begin
      if (RSTA) qa <= 0;
      else if (!WEA || WRITEMODE_A == "READBEFOREWRITE") qa <= mem[basea +: 18] & ((18'd1 << DATA_WIDTH_A) - 1);
      else if (WRITEMODE_A == "WRITETHROUGH") qa <= dia & ((18'd1 << DATA_WIDTH_A) - 1);
    end
    if (OCEA) oa <= RSTA ? 18'd0 : qa;
  end
  wire [17:0] doa = REGMODE_A == "OUTREG" ? oa : qa;
  assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = PDP ? pd_do[17:0] : doa;

  wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
  wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
  wire clkb = (CLKBMUX == "INV") ? ~CLKB : CLKB;
  wire csb = {CSB2, CSB1, CSB0} == 3'b000;
  wire [13:0] wb = adb >> SB;                  // word index at this port's width
  wire [14:0] baseb = wb * DATA_WIDTH_B;
  reg [17:0] qb = 0, ob = 0;
  always @(posedge clkb) if (!PDP) begin
    if (CEB && csb) begin
      if (RSTB) qb <= 0;
      else if (!WEB || WRITEMODE_B == "READBEFOREWRITE") qb <= mem[baseb +: 18] & ((18'd1 << DATA_WIDTH_B) - 1);
      else if (WRITEMODE_B == "WRITETHROUGH") qb <= dib & ((18'd1 << DATA_WIDTH_B) - 1);
    end
    if (OCEB) ob <= RSTB ? 18'd0 : qb;
  end
  wire [17:0] dob = REGMODE_B == "OUTREG" ? ob : qb;
  assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = PDP ? pd_do[35:18] : dob;

  // an asynchronous reset is modelled only as never asserted (yosys ties it low here)
  always @(posedge RSTA or posedge RSTB)
    if (RESETMODE == "ASYNC") $fatal(1, "DP16KD model: asynchronous output reset is not modelled");

  // writes after both ports' reads of this edge (old data on a collision)
  // pseudo-dual-port: read on B, then the byte-enabled 36-bit write on A
  always @(posedge clkb) if (PDP) begin
    if (CEB && csb) pd_q <= RSTB ? 36'd0 : mem[(adb >> 5) * 36 +: 36];
    if (OCEB) pd_o <= RSTB ? 36'd0 : pd_q;
  end
  always @(posedge clka) if (PDP && CEA && csa && WEA) begin
    for (integer k = 0; k < 4; k = k + 1)
      if (ada[k]) mem[(ada >> 5) * 36 + 9 * k +: 9] <= {dib, dia} >> (9 * k);
  end

  always @(posedge clka) if (!PDP && CEA && csa && WEA) begin
    if (DATA_WIDTH_A == 18) begin
      if (ada[0]) mem[basea +: 9] <= dia[8:0];
      if (ada[1]) mem[basea + 9 +: 9] <= dia[17:9];
    end else begin
      for (integer i = 0; i < DATA_WIDTH_A; i = i + 1) mem[basea + i] <= dia[i];
    end
  end
  always @(posedge clkb) if (!PDP && CEB && csb && WEB) begin
    if (DATA_WIDTH_B == 18) begin
      if (adb[0]) mem[baseb +: 9] <= dib[8:0];
      if (adb[1]) mem[baseb + 9 +: 9] <= dib[17:9];
    end else begin
      for (integer i = 0; i < DATA_WIDTH_B; i = i + 1) mem[baseb + i] <= dib[i];
    end
  end
endmodule
